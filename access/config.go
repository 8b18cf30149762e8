package access

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxDepartmentLen bounds department codes, as for events (SPEC 3).
const MaxDepartmentLen = 64

// Config is the access configuration, nested under access: in the process
// configuration. Only hashes of secrets are configured: a leaked config
// file does not leak a token.
type Config struct {
	Users []User `yaml:"users"`
	Proxy Proxy  `yaml:"proxy"`
}

// User is one dashboard/API user, known by the SHA-256 of its bearer token.
type User struct {
	Name       string `yaml:"name"`
	Role       Role   `yaml:"role"`
	Department string `yaml:"department"` // required for role department, only for it
	SHA256     string `yaml:"sha256"`     // hex SHA-256 of the bearer token (sha256sum of the token)
}

// Proxy is a trusted reverse proxy (single sign-on gateway) that passes the
// identity in headers. Its headers are believed only on requests that carry
// the shared secret, so a client reaching the service directly cannot claim
// an identity by setting them itself. Empty (all fields blank) = no proxy.
//
// The role comes either from role_header and department_header, or from
// groups_header: the groups a single sign-on proxy passes on (oauth2-proxy's
// X-Forwarded-Groups), comma-separated, of which groups_prefix+"leader",
// groups_prefix+"inspector" and groups_prefix+"department:D01" count
// (leader before inspector before department).
type Proxy struct {
	UserHeader       string `yaml:"user_header"`
	RoleHeader       string `yaml:"role_header"`
	DepartmentHeader string `yaml:"department_header"`
	GroupsHeader     string `yaml:"groups_header"`
	GroupsPrefix     string `yaml:"groups_prefix"` // e.g. "effidx:"; "" = the group names as they are
	SecretHeader     string `yaml:"secret_header"`
	SecretSHA256     string `yaml:"secret_sha256"` // hex SHA-256 of the shared secret
}

// Enabled says whether any proxy setting is given; Validate makes sure
// that then all of them are.
func (p *Proxy) Enabled() bool { return *p != Proxy{} }

// DefaultConfig has no users and no proxy: dev mode, loopback requests act
// as leader (see Authenticator).
func DefaultConfig() Config { return Config{} }

// DevMode says whether the configuration lets loopback clients in as
// leader: no users and no proxy are configured.
func (c *Config) DevMode() bool { return len(c.Users) == 0 && !c.Proxy.Enabled() }

// headerRE is an HTTP header name (RFC 9110 token, restricted to the
// characters proxies actually use).
var headerRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// decodeHash reads a hex SHA-256; ok is false unless it is 64 hex digits.
func decodeHash(s string) (sum [32]byte, ok bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(sum) {
		return sum, false
	}
	copy(sum[:], b)
	return sum, true
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]int{}
	hashes := map[[32]byte]string{}
	for i, u := range c.Users {
		what := fmt.Sprintf("access user %d", i+1)
		if strings.TrimSpace(u.Name) == "" {
			add("%s: name is empty (it is recorded with what the user enters)", what)
		} else {
			what = fmt.Sprintf("access user %q", u.Name)
			if first, dup := names[u.Name]; dup {
				add("%s: the name is given twice (users %d and %d)", what, first, i+1)
			} else {
				names[u.Name] = i + 1
			}
		}
		if !u.Role.Valid() {
			add("%s: role %q: want one of %s", what, u.Role, roleList())
		}
		switch {
		case u.Role == Department && strings.TrimSpace(u.Department) == "":
			add("%s: role department needs department (the code of the department the user belongs to)", what)
		case u.Role == Department && utf8.RuneCountInString(u.Department) > MaxDepartmentLen:
			add("%s: department code is longer than %d characters", what, MaxDepartmentLen)
		case u.Role != Department && u.Role.Valid() && u.Department != "":
			// A leader or inspector sees every department: a department
			// here suggests role department was meant, which sees far less.
			add("%s: department %q is only for role department, but the role is %s (remove it, or set role: department)", what, u.Department, u.Role)
		}
		sum, ok := decodeHash(u.SHA256)
		switch {
		case !ok:
			add("%s: sha256 must be 64 hex digits (the output of `printf %%s TOKEN | sha256sum`), not the token itself", what)
		case hashes[sum] != "":
			add("%s: sha256 is the same as user %s's: every user needs a token of its own", what, hashes[sum])
		default:
			hashes[sum] = fmt.Sprintf("%q", u.Name)
		}
	}
	if p := c.Proxy; p.Enabled() {
		type field struct{ key, val string }
		fields := []field{{"user_header", p.UserHeader}}
		switch {
		case p.GroupsHeader != "" && (p.RoleHeader != "" || p.DepartmentHeader != ""):
			add("access proxy: set either groups_header or role_header and department_header, not both")
			fields = append(fields, field{"groups_header", p.GroupsHeader})
		case p.GroupsHeader != "":
			fields = append(fields, field{"groups_header", p.GroupsHeader})
		default:
			fields = append(fields, field{"role_header", p.RoleHeader}, field{"department_header", p.DepartmentHeader})
		}
		fields = append(fields, field{"secret_header", p.SecretHeader})
		var missing []string
		seen := map[string]string{}
		for _, f := range fields {
			switch {
			case f.val == "":
				missing = append(missing, f.key)
			case !headerRE.MatchString(f.val):
				add("access proxy %s %q is not an HTTP header name (e.g. X-Remote-User)", f.key, f.val)
			case strings.EqualFold(f.val, "Authorization"):
				add("access proxy %s: Authorization carries bearer tokens; use a header of its own", f.key)
			case seen[strings.ToLower(f.val)] != "":
				add("access proxy %s and %s are both %q: each needs a header of its own", seen[strings.ToLower(f.val)], f.key, f.val)
			default:
				seen[strings.ToLower(f.val)] = f.key
			}
		}
		if p.SecretSHA256 == "" {
			missing = append(missing, "secret_sha256")
		} else if _, ok := decodeHash(p.SecretSHA256); !ok {
			add("access proxy secret_sha256 must be 64 hex digits (the output of `printf %%s SECRET | sha256sum`), not the secret itself")
		}
		if len(missing) > 0 {
			add("access proxy is half configured: %s missing; set user_header, secret_header, secret_sha256 and either groups_header or role_header and department_header, or none of them", strings.Join(missing, ", "))
		}
	}
	return errors.Join(errs...)
}
