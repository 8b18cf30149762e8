package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// poster sends NDJSON lines to a collector in requests of batch lines, with
// several requests in flight, honouring 503 Retry-After (back-pressure).
type poster struct {
	url         string
	token       string
	batch       int
	concurrency int
	rate        float64 // events per second; 0 = as fast as the collector takes them
	client      *http.Client

	accepted, duplicates, rejected, requests, retries atomic.Int64
	latMu                                             sync.Mutex
	latencies                                         []time.Duration
}

func newPoster(url, token string, batch, concurrency int, rate float64) *poster {
	return &poster{
		url: url, token: token, batch: batch, concurrency: concurrency, rate: rate,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}},
	}
}

type ingestAnswer struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Rejected   []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"rejected"`
}

// post reads lines from r and sends them all.
func (p *poster) post(ctx context.Context, r io.Reader) error {
	bodies := make(chan []byte, p.concurrency)
	errc := make(chan error, p.concurrency+1)
	var wg sync.WaitGroup
	for range p.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range bodies {
				if err := p.send(ctx, body); err != nil {
					errc <- err
					for range bodies { // drain so the reader does not block
					}
					return
				}
			}
		}()
	}
	go func() {
		defer close(bodies)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var buf bytes.Buffer
		n, sent := 0, 0
		start := time.Now()
		for sc.Scan() {
			buf.Write(sc.Bytes())
			buf.WriteByte('\n')
			if n++; n == p.batch {
				sent += n
				if !p.pace(ctx, start, sent) {
					return
				}
				bodies <- bytes.Clone(buf.Bytes())
				buf.Reset()
				n = 0
			}
		}
		if err := sc.Err(); err != nil {
			errc <- err
			return
		}
		if n > 0 {
			bodies <- bytes.Clone(buf.Bytes())
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

// pace sleeps until sending `sent` events keeps to the rate.
func (p *poster) pace(ctx context.Context, start time.Time, sent int) bool {
	if p.rate <= 0 {
		return ctx.Err() == nil
	}
	due := start.Add(time.Duration(float64(sent) / p.rate * float64(time.Second)))
	select {
	case <-time.After(time.Until(due)):
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *poster) send(ctx context.Context, body []byte) error {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		if p.token != "" {
			req.Header.Set("Authorization", "Bearer "+p.token)
		}
		start := time.Now()
		resp, err := p.client.Do(req)
		if err != nil {
			if ctx.Err() != nil || attempt >= 20 {
				return fmt.Errorf("post events: %w", err)
			}
			p.retries.Add(1)
			time.Sleep(time.Duration(min(attempt+1, 10)) * 200 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			var a ingestAnswer
			if err := json.Unmarshal(b, &a); err != nil {
				return fmt.Errorf("collector answer: %w", err)
			}
			p.requests.Add(1)
			p.accepted.Add(int64(a.Accepted))
			p.duplicates.Add(int64(a.Duplicates))
			p.rejected.Add(int64(len(a.Rejected)))
			p.latMu.Lock()
			p.latencies = append(p.latencies, time.Since(start))
			p.latMu.Unlock()
			return nil
		case http.StatusServiceUnavailable:
			p.retries.Add(1)
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-time.After(time.Duration(max(wait, 1)) * time.Second / 4):
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			return fmt.Errorf("collector answered %s: %s", resp.Status, bytes.TrimSpace(b))
		}
	}
}
