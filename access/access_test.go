package access

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// exampleYAML is the access block of deployments/effidx.example.yaml
// (hashes of "leader-token", "dept-token", "insp-token" and "s3cret").
var exampleYAML = `
users:
  - name: 王局长
    role: leader
    sha256: ` + hash("leader-token") + `
  - name: 李科长
    role: department
    department: D01
    sha256: ` + hash("dept-token") + `
  - name: 张督查
    role: inspector
    sha256: ` + hash("insp-token") + `
proxy:
  user_header: X-Remote-User
  role_header: X-Remote-Role
  department_header: X-Remote-Department
  secret_header: X-Proxy-Secret
  secret_sha256: ` + hash("s3cret") + `
`

func exampleConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(exampleYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode example: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("example config is invalid: %v", err)
	}
	return cfg
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

type req struct {
	remote  string
	url     string
	headers map[string]string
}

func (q req) build() *http.Request {
	u := q.url
	if u == "" {
		u = "/api/v1/scores"
	}
	r := httptest.NewRequest(http.MethodGet, u, nil)
	r.RemoteAddr = q.remote
	if r.RemoteAddr == "" {
		r.RemoteAddr = "192.0.2.10:51234"
	}
	for k, v := range q.headers {
		r.Header.Set(k, v)
	}
	return r
}

func TestIdentifyWithUsersAndProxy(t *testing.T) {
	a := New(exampleConfig(t), quiet())
	proxied := func(secret, user, role, dep string) map[string]string {
		h := map[string]string{"X-Remote-User": user, "X-Remote-Role": role, "X-Remote-Department": dep}
		if secret != "" {
			h["X-Proxy-Secret"] = secret
		}
		return h
	}
	tests := []struct {
		name    string
		req     req
		want    Identity
		wantErr string // substring of the error; "" = success
	}{
		{"a leader's bearer token identifies the leader",
			req{headers: map[string]string{"Authorization": "Bearer leader-token"}},
			Identity{Name: "王局长", Role: Leader}, ""},
		{"a department user's token carries its department",
			req{headers: map[string]string{"Authorization": "Bearer dept-token"}},
			Identity{Name: "李科长", Role: Department, Department: "D01"}, ""},
		{"an inspector's token identifies the inspector",
			req{headers: map[string]string{"Authorization": "Bearer insp-token"}},
			Identity{Name: "张督查", Role: Inspector}, ""},
		{"the Bearer scheme is case-insensitive",
			req{headers: map[string]string{"Authorization": "bearer leader-token"}},
			Identity{Name: "王局长", Role: Leader}, ""},
		{"a wrong token is refused, saying to check it",
			req{headers: map[string]string{"Authorization": "Bearer leader-tokem"}},
			Identity{}, "bearer token is not known"},
		{"a token's hash is not a token",
			req{headers: map[string]string{"Authorization": "Bearer " + hash("leader-token")}},
			Identity{}, "bearer token is not known"},
		{"basic authentication is refused, naming the scheme to use",
			req{headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}},
			Identity{}, `must be "Bearer <token>"`},
		{"a wrong token is not rescued by trusted proxy headers",
			req{headers: map[string]string{"Authorization": "Bearer nope", "X-Proxy-Secret": "s3cret", "X-Remote-User": "x", "X-Remote-Role": "leader"}},
			Identity{}, "bearer token is not known"},
		{"the proxy's headers are believed with the right secret",
			req{headers: proxied("s3cret", "赵处长", "leader", "")},
			Identity{Name: "赵处长", Role: Leader}, ""},
		{"the proxy's department user carries its department",
			req{headers: proxied("s3cret", "钱科员", "Department", "D07")},
			Identity{Name: "钱科员", Role: Department, Department: "D07"}, ""},
		{"a department header on a leader from the proxy does not stick",
			req{headers: proxied("s3cret", "赵处长", "leader", "D07")},
			Identity{Name: "赵处长", Role: Leader}, ""},
		{"proxy headers with a wrong secret are refused",
			req{headers: proxied("guess", "mallory", "leader", "")},
			Identity{}, "proxy secret does not match"},
		{"proxy headers without the secret are ignored",
			req{headers: proxied("", "mallory", "leader", "")},
			Identity{}, "send Authorization: Bearer <token>"},
		{"a role the proxy sends that is not known is refused",
			req{headers: proxied("s3cret", "x", "admin", "")},
			Identity{}, `role "admin"`},
		{"a department role from the proxy without a department is refused",
			req{headers: proxied("s3cret", "x", "department", "")},
			Identity{}, "without a department"},
		{"the proxy must name the user",
			req{headers: proxied("s3cret", "", "leader", "")},
			Identity{}, "no user name"},
		{"a query parameter never identifies anyone",
			req{url: "/api/v1/scores?token=leader-token&access_token=leader-token&user=王局长&role=leader"},
			Identity{}, "send Authorization: Bearer <token>"},
		{"a loopback client without credentials is refused once users are configured",
			req{remote: "127.0.0.1:40000"},
			Identity{}, "send Authorization: Bearer <token>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Identify(tt.req.build())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Identify = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Identify = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestIdentifyInDevMode(t *testing.T) {
	a := New(DefaultConfig(), quiet())
	dev := Identity{Name: DevName, Role: Leader}
	tests := []struct {
		name    string
		req     req
		want    Identity
		wantErr string
	}{
		{"an IPv4 loopback client acts as leader", req{remote: "127.0.0.1:40000"}, dev, ""},
		{"an IPv6 loopback client acts as leader", req{remote: "[::1]:40000"}, dev, ""},
		{"a client on the network is refused, saying users are needed", req{remote: "10.1.2.3:40000"}, Identity{}, "only loopback clients"},
		{"a loopback request relayed by a proxy is refused", req{remote: "127.0.0.1:40000", headers: map[string]string{"X-Forwarded-For": "10.1.2.3"}}, Identity{}, "only loopback clients"},
		{"a query parameter does not make a network client a leader", req{remote: "10.1.2.3:40000", url: "/api/v1/scores?role=leader&user=x"}, Identity{}, "only loopback clients"},
		{"a bearer token is refused since no users exist", req{remote: "127.0.0.1:40000", headers: map[string]string{"Authorization": "Bearer x"}}, Identity{}, "no users are configured"},
		{"proxy-looking headers mean nothing without a configured proxy", req{remote: "10.1.2.3:40000", headers: map[string]string{"X-Remote-User": "x", "X-Remote-Role": "leader"}}, Identity{}, "only loopback clients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Identify(tt.req.build())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Identify = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Identify = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestNewWarnsOnceInDevModeOnly(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		warns int
	}{
		{"no users and no proxy warn once", DefaultConfig(), 1},
		{"configured users do not warn", exampleConfig(t), 0},
		{"a proxy alone does not warn", Config{Proxy: exampleConfig(t).Proxy}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			New(tt.cfg, slog.New(slog.NewTextHandler(&buf, nil)))
			if got := strings.Count(buf.String(), "dev mode"); got != tt.warns {
				t.Fatalf("%d dev mode warnings, want %d; log:\n%s", got, tt.warns, buf.String())
			}
			if tt.warns > 0 && !strings.Contains(buf.String(), "level=WARN") {
				t.Fatalf("the dev mode message is not a warning:\n%s", buf.String())
			}
		})
	}
}

func TestMiddlewareAndRequire(t *testing.T) {
	a := New(exampleConfig(t), quiet())
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, found := FromContext(r.Context())
		if !found {
			t.Error("handler reached without an identity in its context")
		}
		_, _ = w.Write([]byte(id.Name))
	})
	inspectorsOnly := a.Middleware(Require(Inspector)(ok))
	tests := []struct {
		name     string
		h        http.Handler
		auth     string
		code     int
		bodyHas  string
		jsonBody bool
	}{
		{"a known token passes with its identity", a.Middleware(ok), "Bearer dept-token", 200, "李科长", false},
		{"no credentials get 401 telling to send a bearer token", a.Middleware(ok), "", 401, "Bearer <token>", true},
		{"a wrong token gets 401", a.Middleware(ok), "Bearer wrong", 401, "not known", true},
		{"the required role passes", inspectorsOnly, "Bearer insp-token", 200, "张督查", false},
		{"another role gets 403 naming the role needed", inspectorsOnly, "Bearer leader-token", 403, "needs role inspector", true},
		{"a department user gets 403", inspectorsOnly, "Bearer dept-token", 403, "department D01", true},
		{"Require without Middleware answers 401", Require(Inspector)(ok), "Bearer insp-token", 401, "not signed in", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req{}.build()
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.bodyHas) {
				t.Fatalf("got %d %q, want %d containing %q", w.Code, w.Body.String(), tt.code, tt.bodyHas)
			}
			if tt.jsonBody {
				var body ErrorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" {
					t.Fatalf("error body %q is not {\"error\": ...}: %v", w.Body.String(), err)
				}
				if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Fatalf("Content-Type %q", ct)
				}
			}
			if tt.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}

func TestIdentityPermissions(t *testing.T) {
	tests := []struct {
		name        string
		id          Identity
		dep         string
		see, manual bool
	}{
		{"a leader sees any department and cannot enter scores", Identity{Name: "l", Role: Leader}, "D01", true, false},
		{"an inspector sees any department and enters scores", Identity{Name: "i", Role: Inspector}, "D02", true, true},
		{"a department user sees its own department", Identity{Name: "d", Role: Department, Department: "D01"}, "D01", true, false},
		{"a department user does not see another department", Identity{Name: "d", Role: Department, Department: "D01"}, "D02", false, false},
		{"a department user without a department sees nothing", Identity{Name: "d", Role: Department}, "", false, false},
		{"the zero identity may do nothing", Identity{}, "D01", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.CanSeeDepartment(tt.dep); got != tt.see {
				t.Errorf("CanSeeDepartment(%q) = %v, want %v", tt.dep, got, tt.see)
			}
			if got := tt.id.CanWriteManual(); got != tt.manual {
				t.Errorf("CanWriteManual() = %v, want %v", got, tt.manual)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	good := exampleConfig(t)
	h := hash("x")
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, all of which must appear; none = valid
	}{
		{"the default (dev mode) is valid", DefaultConfig(), nil},
		{"the example is valid", good, nil},
		{"an unknown role names the roles", Config{Users: []User{{Name: "a", Role: "admin", SHA256: h}}},
			[]string{`access user "a": role "admin": want one of leader, department, inspector`}},
		{"a department user needs its department", Config{Users: []User{{Name: "a", Role: Department, SHA256: h}}},
			[]string{`access user "a": role department needs department`}},
		{"a department on a leader is refused", Config{Users: []User{{Name: "a", Role: Leader, Department: "D01", SHA256: h}}},
			[]string{`department "D01" is only for role department`}},
		{"a token instead of its hash is refused", Config{Users: []User{{Name: "a", Role: Leader, SHA256: "leader-token"}}},
			[]string{`access user "a": sha256 must be 64 hex digits`, "not the token itself"}},
		{"a user without a name is refused", Config{Users: []User{{Role: Leader, SHA256: h}}},
			[]string{"access user 1: name is empty"}},
		{"duplicate names and hashes are refused", Config{Users: []User{
			{Name: "a", Role: Leader, SHA256: h}, {Name: "a", Role: Inspector, SHA256: strings.ToUpper(h)}}},
			[]string{"the name is given twice (users 1 and 2)", `sha256 is the same as user "a"'s`}},
		{"a half-configured proxy names what is missing", Config{Proxy: Proxy{UserHeader: "X-Remote-User"}},
			[]string{"access proxy is half configured: role_header, department_header, secret_header, secret_sha256 missing"}},
		{"a proxy secret that is not a hash is refused", Config{Proxy: func() Proxy { p := good.Proxy; p.SecretSHA256 = "s3cret"; return p }()},
			[]string{"access proxy secret_sha256 must be 64 hex digits"}},
		{"proxy headers must be distinct header names", Config{Proxy: func() Proxy {
			p := good.Proxy
			p.RoleHeader, p.SecretHeader, p.DepartmentHeader = "X-Remote-User", "Authorization", "X Dept"
			return p
		}()}, []string{"user_header and role_header are both", "Authorization carries bearer tokens", `department_header "X Dept" is not an HTTP header name`}},
		{"every problem is reported at once", Config{
			Users: []User{{Name: "a", Role: "boss", SHA256: "x"}, {Name: "b", Role: Department, SHA256: h}},
			Proxy: Proxy{SecretSHA256: h},
		}, []string{`role "boss"`, "sha256 must be 64 hex digits", `"b": role department needs department`, "proxy is half configured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want errors containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigRejectsUnknownYAMLKeys(t *testing.T) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader("users:\n  - name: a\n    role: leader\n    token: plain\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err == nil || !strings.Contains(err.Error(), "field token not found") {
		t.Fatalf("decode = %v, want an unknown-field error for token", err)
	}
}

func TestIdentifyFromAProxysGroups(t *testing.T) {
	secret := "proxy-secret"
	sum := sha256.Sum256([]byte(secret))
	cfg := Config{Proxy: Proxy{UserHeader: "X-Forwarded-User", GroupsHeader: "X-Forwarded-Groups", GroupsPrefix: "effidx:",
		SecretHeader: "X-Proxy-Secret", SecretSHA256: hex.EncodeToString(sum[:])}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := New(cfg, quiet())
	tests := []struct {
		name    string
		groups  []string
		want    Identity
		wantErr string
	}{
		{"a department group gives the department role", []string{"staff,effidx:department:D07"},
			Identity{Name: "u", Role: Department, Department: "D07"}, ""},
		{"leader wins over a department group", []string{"effidx:department:D07", "effidx:leader"},
			Identity{Name: "u", Role: Leader}, ""},
		{"inspector wins over a department group", []string{"effidx:department:D07, effidx:inspector"},
			Identity{Name: "u", Role: Inspector}, ""},
		{"groups without the prefix do not count", []string{"leader,department:D01"}, Identity{}, "no effidx group"},
		{"no groups at all is refused", nil, Identity{}, "no effidx group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"X-Forwarded-User": "u", "X-Proxy-Secret": secret}
			r := req{headers: h}.build()
			for _, g := range tt.groups {
				r.Header.Add("X-Forwarded-Groups", g)
			}
			id, err := a.Identify(r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || id != tt.want {
				t.Fatalf("%+v, %v; want %+v", id, err, tt.want)
			}
		})
	}
	// Role headers and a groups header at once are ambiguous.
	bad := cfg
	bad.Proxy.RoleHeader = "X-Role"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "either groups_header or role_header") {
		t.Fatalf("both role and groups headers: %v", err)
	}
}
