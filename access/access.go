// Package access says who is asking (SPEC 7): a user known by a bearer
// token, an identity passed by a trusted reverse proxy, or, in dev mode
// with nothing configured, a loopback client acting as leader. Identity
// never comes from a query parameter: URLs end up in logs, histories and
// Referer headers.
package access

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// Role is what a user may see and do.
type Role string

const (
	// Leader sees everything.
	Leader Role = "leader"
	// Department sees the city rankings, but only its own portrait,
	// deductions, lights and case ids.
	Department Role = "department"
	// Inspector may enter manual scores and sees everything read-only.
	Inspector Role = "inspector"
)

var roles = []Role{Leader, Department, Inspector}

// Valid says whether r is one of the known roles.
func (r Role) Valid() bool { return slices.Contains(roles, r) }

func roleList() string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Identity is who is asking.
type Identity struct {
	Name       string `json:"name"`
	Role       Role   `json:"role"`
	Department string `json:"department,omitempty"` // for role department
}

// CanSeeDepartment says whether the identity may see the department's own
// data (portrait, deductions, lights, case ids). Rankings are for everyone.
func (id Identity) CanSeeDepartment(dep string) bool {
	switch id.Role {
	case Leader, Inspector:
		return true
	case Department:
		return id.Department != "" && id.Department == dep
	}
	return false
}

// SeesAll says whether the identity sees every department's data; when
// not, lists must be filtered to CanSeeDepartment.
func (id Identity) SeesAll() bool { return id.Role == Leader || id.Role == Inspector }

// CanWriteManual says whether the identity may enter manual scores (E4).
func (id Identity) CanWriteManual() bool { return id.Role == Inspector }

func (id Identity) String() string {
	if id.Role == Department {
		return fmt.Sprintf("%s (department %s)", id.Name, id.Department)
	}
	return fmt.Sprintf("%s (%s)", id.Name, id.Role)
}

// DevName is the name of the identity loopback clients get in dev mode.
const DevName = "dev-loopback"

// Authenticator identifies requests against a Config.
type Authenticator struct {
	users []user
	proxy *proxy
	dev   bool
	log   *slog.Logger
}

type user struct {
	id   Identity
	hash [32]byte
}

type proxy struct {
	Proxy
	hash [32]byte
}

// New builds an Authenticator from a validated cfg (entries Validate would
// reject are left out and logged). In dev mode (no users, no proxy) it
// logs a warning: every loopback client is then a leader.
func New(cfg Config, log *slog.Logger) *Authenticator {
	if log == nil {
		log = slog.Default()
	}
	a := &Authenticator{log: log, dev: cfg.DevMode()}
	for _, u := range cfg.Users {
		sum, ok := decodeHash(u.SHA256)
		if !ok || !u.Role.Valid() {
			log.Error("access: user left out: its role or sha256 is invalid (run Validate)", "user", u.Name)
			continue
		}
		a.users = append(a.users, user{id: Identity{Name: u.Name, Role: u.Role, Department: u.Department}, hash: sum})
	}
	if cfg.Proxy.Enabled() {
		if sum, ok := decodeHash(cfg.Proxy.SecretSHA256); ok {
			a.proxy = &proxy{Proxy: cfg.Proxy, hash: sum}
		} else {
			log.Error("access: proxy left out: its secret_sha256 is invalid (run Validate)")
		}
	}
	if a.dev {
		log.Warn("access: no users and no proxy configured (access.users, access.proxy): dev mode, every loopback client acts as leader; configure users before serving anyone else")
	}
	return a
}

// Error is why a request could not be identified; its message tells the
// client what to do.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func deny(format string, args ...any) error { return &Error{msg: fmt.Sprintf(format, args...)} }

// Identify says who sent r: a bearer token first, then the trusted proxy's
// headers (only with the right secret), then, in dev mode, a loopback
// client as leader. Any other request is unauthenticated (an *Error).
func (a *Authenticator) Identify(r *http.Request) (Identity, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return a.bearer(h)
	}
	if a.proxy != nil {
		if id, ok, err := a.fromProxy(r); ok || err != nil {
			return id, err
		}
	}
	if a.dev {
		if isLoopback(r) {
			return Identity{Name: DevName, Role: Leader}, nil
		}
		return Identity{}, deny("no users are configured (access.users), so only loopback clients are let in; ask the operator to configure a user for you and send Authorization: Bearer <token>")
	}
	if a.proxy != nil && len(a.users) == 0 {
		return Identity{}, deny("not signed in: come through the single sign-on proxy")
	}
	return Identity{}, deny("not signed in: send Authorization: Bearer <token> (ask the operator for a token)")
}

func (a *Authenticator) bearer(h string) (Identity, error) {
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Identity{}, deny("the Authorization header must be \"Bearer <token>\"")
	}
	if len(a.users) == 0 {
		return Identity{}, deny("bearer tokens are not accepted: no users are configured (access.users); ask the operator to configure one")
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	// Compare with every user so that timing does not tell which matched.
	for i := range a.users {
		if subtle.ConstantTimeCompare(sum[:], a.users[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Identity{}, deny("the bearer token is not known: check it, or ask the operator for a new one")
	}
	return a.users[found].id, nil
}

// fromProxy reads the proxy's identity headers; ok is false when the
// request does not claim to come through the proxy at all.
func (a *Authenticator) fromProxy(r *http.Request) (Identity, bool, error) {
	p := a.proxy
	secret := r.Header.Get(p.SecretHeader)
	if secret == "" {
		if r.Header.Get(p.UserHeader) != "" || (p.RoleHeader != "" && r.Header.Get(p.RoleHeader) != "") || (p.GroupsHeader != "" && r.Header.Get(p.GroupsHeader) != "") {
			// Someone set the identity headers without the secret: a
			// client imitating the proxy, or a proxy missing its secret.
			a.log.Warn("access: proxy identity headers without the proxy secret: ignored", "remote", r.RemoteAddr)
		}
		return Identity{}, false, nil
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], p.hash[:]) != 1 {
		a.log.Warn("access: wrong proxy secret", "remote", r.RemoteAddr)
		return Identity{}, true, deny("the proxy secret does not match, so the proxy's identity headers are not believed; check the proxy's %s", p.SecretHeader)
	}
	id := Identity{
		Name:       strings.TrimSpace(r.Header.Get(p.UserHeader)),
		Role:       Role(strings.ToLower(strings.TrimSpace(r.Header.Get(p.RoleHeader)))),
		Department: strings.TrimSpace(r.Header.Get(p.DepartmentHeader)),
	}
	if p.GroupsHeader != "" {
		id.Role, id.Department = fromGroups(r.Header.Values(p.GroupsHeader), p.GroupsPrefix)
		if id.Role == "" {
			return Identity{}, true, deny("the proxy sent no effidx group in %s: want %sleader, %sinspector or %sdepartment:<code>",
				p.GroupsHeader, p.GroupsPrefix, p.GroupsPrefix, p.GroupsPrefix)
		}
	}
	switch {
	case id.Name == "":
		return Identity{}, true, deny("the proxy sent no user name in %s", p.UserHeader)
	case !id.Role.Valid():
		return Identity{}, true, deny("the proxy sent role %q in %s: want one of %s", id.Role, p.RoleHeader, roleList())
	case id.Role == Department && id.Department == "":
		return Identity{}, true, deny("the proxy sent role department without a department in %s", p.DepartmentHeader)
	case id.Role == Department && utf8.RuneCountInString(id.Department) > MaxDepartmentLen:
		return Identity{}, true, deny("the proxy sent a department code longer than %d characters", MaxDepartmentLen)
	}
	if id.Role != Department {
		id.Department = ""
	}
	return id, true, nil
}

// fromGroups picks the strongest effidx role among a proxy's groups:
// leader, then inspector, then the first department:<code>.
func fromGroups(values []string, prefix string) (Role, string) {
	var role Role
	dept := ""
	for _, v := range values {
		for _, g := range strings.Split(v, ",") {
			name, ok := strings.CutPrefix(strings.TrimSpace(g), prefix)
			if !ok {
				continue
			}
			switch {
			case name == string(Leader):
				return Leader, ""
			case name == string(Inspector):
				role = Inspector
			case strings.HasPrefix(name, string(Department)+":") && role == "":
				if code := strings.TrimPrefix(name, string(Department)+":"); code != "" && dept == "" {
					dept = code
				}
			}
		}
	}
	if role == Inspector {
		return Inspector, ""
	}
	if dept != "" {
		return Department, dept
	}
	return "", ""
}

// forwardHeaders mark a request relayed by a proxy: its loopback source
// address says nothing about the client behind it.
var forwardHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"}

func isLoopback(r *http.Request) bool {
	for _, h := range forwardHeaders {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity Middleware put into ctx.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Middleware identifies each request and passes it on with the identity
// in its context, or answers 401 with a JSON error saying what to send.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Identify(r)
		if err != nil {
			Unauthorized(w, err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// Require lets through only requests whose identity has one of roles:
// 401 without an identity, 403 with another role.
func Require(roles ...Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := FromContext(r.Context())
			if !ok {
				Unauthorized(w, "not signed in: send Authorization: Bearer <token> (ask the operator for a token)")
				return
			}
			if !slices.Contains(roles, id.Role) {
				names := make([]string, len(roles))
				for i, r := range roles {
					names[i] = string(r)
				}
				Forbidden(w, fmt.Sprintf("this needs role %s; you are signed in as %s", strings.Join(names, " or "), id))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

// WriteError answers code with {"error": msg}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // messages say "Bearer <token>" to people reading curl output
	_ = enc.Encode(ErrorBody{Error: msg})
}

// Unauthorized answers 401 with a bearer challenge.
func Unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="effidx"`)
	WriteError(w, http.StatusUnauthorized, msg)
}

// Forbidden answers 403.
func Forbidden(w http.ResponseWriter, msg string) { WriteError(w, http.StatusForbidden, msg) }
