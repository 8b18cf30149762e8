package remind

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"time"
)

// Email sends messages over SMTP (net/smtp): STARTTLS whenever the server
// offers it, AUTH PLAIN when a user is configured (net/smtp refuses PLAIN
// without TLS except to localhost).
type Email struct {
	cfg SMTPConfig
	loc *time.Location
	now func() time.Time
}

// NewEmail builds the channel; cfg.Addr must be set.
func NewEmail(cfg SMTPConfig, loc *time.Location) *Email {
	return &Email{cfg: cfg, loc: loc, now: time.Now}
}

// Name implements Channel.
func (e *Email) Name() string { return "email" }

// Address implements Channel: the person's address.
func (e *Email) Address(p *Person, _ string) string { return p.Email }

// Send implements Channel. The whole conversation is bounded by the
// timeout: net/smtp has none of its own.
func (e *Email) Send(ctx context.Context, address string, m *Message) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	from, err := mail.ParseAddress(e.cfg.From)
	if err != nil {
		return fmt.Errorf("smtp from %q: %w", e.cfg.From, err)
	}
	body := e.compose(from, address, m)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", e.cfg.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(e.cfg.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp %s: greeting: %w", e.cfg.Addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp %s: STARTTLS: %w", e.cfg.Addr, err)
		}
	}
	if e.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.cfg.Username, e.cfg.Password, host)); err != nil {
			return fmt.Errorf("smtp %s: AUTH: %w", e.cfg.Addr, err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", e.cfg.Addr, err)
	}
	if err := c.Rcpt(address); err != nil {
		return fmt.Errorf("smtp %s: RCPT TO %s: %w", e.cfg.Addr, address, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", e.cfg.Addr, err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("smtp %s: message: %w", e.cfg.Addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: end of message: %w", e.cfg.Addr, err)
	}
	// The message is accepted once DATA is answered; a failing QUIT does
	// not make it undelivered.
	_ = c.Quit()
	return nil
}

// compose renders m as an RFC 5322 message: UTF-8 text in base64, the
// delivery id as Message-ID so that a re-sent copy can be recognised.
func (e *Email) compose(from *mail.Address, to string, m *Message) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	if from.Name == "" {
		from = &mail.Address{Name: "效能督查", Address: from.Address}
	}
	hdr("From", from.String())
	hdr("To", (&mail.Address{Name: m.To.Name, Address: to}).String())
	hdr("Subject", mime.BEncoding.Encode("UTF-8", m.Subject))
	hdr("Date", e.now().In(e.loc).Format(time.RFC1123Z))
	hdr("Message-ID", "<"+m.ID+"@effidx>")
	hdr("X-Effidx-Reminder", m.ID)
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=UTF-8")
	hdr("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(m.Text))
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
	return b.Bytes()
}
