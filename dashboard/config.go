package dashboard

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Config is the dashboard section of the process configuration.
type Config struct {
	// Refresh is how often the cockpit fetches its data again (it never
	// reloads the page: a wall screen must not flicker).
	Refresh time.Duration `yaml:"refresh"`
	// FrameAncestors are the CSP frame-ancestors sources allowed to embed
	// the pages, e.g. ["'self'", "https://screen.city.gov.cn"] for a wall
	// screen portal; ["'none'"] forbids framing.
	FrameAncestors []string `yaml:"frame_ancestors"`
}

// DefaultConfig refreshes every minute and allows framing by the same
// origin only.
func DefaultConfig() Config {
	return Config{Refresh: time.Minute, FrameAncestors: []string{"'self'"}}
}

// sourceRE is one CSP source expression: a keyword, a scheme, or a host
// with optional scheme, wildcard subdomain, port and path.
var sourceRE = regexp.MustCompile(`^(?:'self'|'none'|[a-z][a-z0-9+.-]*:|(?:[a-z][a-z0-9+.-]*://)?(?:\*\.)?[A-Za-z0-9.-]+(?::(?:[0-9]+|\*))?(?:/[A-Za-z0-9._~/%-]*)?)$`)

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Refresh < 5*time.Second || c.Refresh > time.Hour {
		errs = append(errs, fmt.Errorf("dashboard refresh %s: want 5s to 1h (e.g. 60s)", c.Refresh))
	}
	if len(c.FrameAncestors) == 0 {
		errs = append(errs, errors.New(`dashboard frame_ancestors is empty: want e.g. ["'self'"], or ["'none'"] to forbid framing`))
	}
	for _, s := range c.FrameAncestors {
		if s == "self" || s == "none" {
			errs = append(errs, fmt.Errorf(`dashboard frame_ancestors %q: write '%s' with the single quotes (in YAML: "'%s'"); without them it names a host`, s, s, s))
			continue
		}
		if !sourceRE.MatchString(s) {
			errs = append(errs, fmt.Errorf(`dashboard frame_ancestors %q: want 'self', 'none' (with the quotes), a scheme like https: or an origin like https://screen.example.gov.cn`, s))
		}
		if s == "'none'" && len(c.FrameAncestors) > 1 {
			errs = append(errs, errors.New("dashboard frame_ancestors: 'none' must stand alone"))
		}
	}
	return errors.Join(errs...)
}

// frameAncestors is the directive's value.
func (c *Config) frameAncestors() string { return strings.Join(c.FrameAncestors, " ") }
