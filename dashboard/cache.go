package dashboard

import (
	"context"
	"sync"
	"time"
)

// cache keeps what a page builds from the API for ttl, and past ttl
// serves the old value while one background build replaces it: a wall
// screen or 50 clients never wait for ClickHouse because an entry
// expired. Only the first request of a key waits, and the requests
// arriving meanwhile wait for the same build. Errors are not kept.
type cache[V any] struct {
	ttl   time.Duration
	build time.Duration // bound on a background build

	mu sync.Mutex
	m  map[string]*cacheEntry[V]
}

type cacheEntry[V any] struct {
	v          V
	at         time.Time // when v was built; zero while the first build runs
	used       time.Time
	refreshing bool
	ready      chan struct{} // closed when the first build ends
	err        error         // of the first build
}

// maxCacheEntries bounds a cache; past it, entries unused longest go.
const maxCacheEntries = 512

func newCache[V any](ttl time.Duration) *cache[V] {
	return &cache[V]{ttl: ttl, build: 30 * time.Second, m: map[string]*cacheEntry[V]{}}
}

// get returns key's value, building it with f when there is none.
func (c *cache[V]) get(ctx context.Context, key string, f func(context.Context) (V, error)) (V, error) {
	now := time.Now()
	c.mu.Lock()
	e := c.m[key]
	if e != nil && !e.at.IsZero() {
		e.used = now
		if now.Sub(e.at) >= c.ttl && !e.refreshing {
			e.refreshing = true
			go c.refresh(key, e, f)
		}
		v := e.v
		c.mu.Unlock()
		return v, nil
	}
	if e == nil {
		e = &cacheEntry[V]{ready: make(chan struct{}), used: now}
		c.sweep()
		c.m[key] = e
		c.mu.Unlock()
		v, err := f(ctx)
		c.mu.Lock()
		if err != nil {
			// The waiters see the error; the next request tries again.
			delete(c.m, key)
		} else {
			e.v, e.at = v, time.Now()
		}
		e.err = err
		close(e.ready)
		c.mu.Unlock()
		return v, err
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.v, e.err
}

func (c *cache[V]) refresh(key string, e *cacheEntry[V], f func(context.Context) (V, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), c.build)
	defer cancel()
	v, err := f(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refreshing = false
	if err == nil {
		e.v, e.at = v, time.Now()
	}
	// On error the old value stays and the next request past ttl tries
	// again.
}

// forget drops every entry: what it held changed (a manual entry).
func (c *cache[V]) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if !e.at.IsZero() {
			delete(c.m, k)
		}
	}
}

// sweep makes room for one entry (c.mu held).
func (c *cache[V]) sweep() {
	for len(c.m) >= maxCacheEntries {
		var oldK string
		var old time.Time
		for k, e := range c.m {
			if !e.at.IsZero() && (oldK == "" || e.used.Before(old)) {
				oldK, old = k, e.used
			}
		}
		if oldK == "" {
			return
		}
		delete(c.m, oldK)
	}
}
