package remind

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"effidx/rules"
)

var cst = time.FixedZone("CST", 8*3600)

func testDirectory(t *testing.T, webhookBase string) *Directory {
	t.Helper()
	b, err := os.ReadFile("testdata/directory/city.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if webhookBase != "" {
		b = bytes.ReplaceAll(b, []byte("http://127.0.0.1:1"), []byte(webhookBase))
	}
	d, err := ParseDirectory("city.good.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testMessage() *Message {
	due := time.Date(2024, 10, 16, 23, 59, 59, 0, cst)
	m := &Message{
		ID: deliveryID("service", "C-1", "", "overdue", 0, 0, "webhook"), ReminderID: ReminderID("overdue", 0, ""), Type: "urge",
		Step: "overdue", Level: rules.Responsible, To: Person{ID: "zhang.san", Name: "张三", Department: "D01", Email: "zhang.san@d01.example.gov.cn"},
		Item:  ItemRef{Kind: "service", CaseID: "C-1", Matter: "M-LICENCE", Department: "D01", Responsible: "zhang.san"},
		Light: "red", Due: &due, WorkdaysLeft: -1, Link: "https://effidx.example.gov.cn/lights?case=C-1",
		AckURL: "https://effidx.example.gov.cn/reminders/ack/x.y", DueAt: due.Add(time.Second),
	}
	m.compose(cst)
	return m
}

func TestDirectoryFilesGoodParseBadFailWithLines(t *testing.T) {
	bad := map[string][]string{
		"broken.bad.yaml": {
			`broken.bad.yaml:5: department "D01": leader: "nobody" is not in people`,
			`broken.bad.yaml:6: department "D01": webhook "ftp://gw.example/hook": want an absolute http(s) URL`,
			`broken.bad.yaml:7: department "D01": unknown key "fax" (known: duty, id, leader, name, section_head, webhook)`,
			`broken.bad.yaml:8: department "D01": given twice (first at line 2)`,
			`broken.bad.yaml:12: department "D02": missing key "section_head"`,
			`broken.bad.yaml:19: person "wang.ke": email "王科长 <wang@example.gov.cn>" is not a plain address (want name@example.gov.cn)`,
			`broken.bad.yaml:20: person "wang.ke": given twice (first at line 16)`,
			`broken.bad.yaml:23: person "li si": id "li si": no spaces, at most 128 characters`,
			`broken.bad.yaml:23: person "li si": department "D03" is not in departments`,
			`broken.bad.yaml:27: person "li.ming": name "王科长" is also "wang.ke"'s in department D01 (events naming the responsible by name would be ambiguous)`,
			`broken.bad.yaml:30: person "li.ming": head: "chen.ke" is not in people`,
			`broken.bad.yaml:31: person "mute": no way to reach them: give an email, or department D02 a webhook`,
		},
		"empty.bad.yaml": {`empty.bad.yaml: empty file`},
		"shapes.bad.yaml": {
			`shapes.bad.yaml:1: departments: want a list, got "D01"`,
			`shapes.bad.yaml:3: person: want a mapping, got "just a name"`,
			`shapes.bad.yaml:4: directory: unknown key "staff" (known: departments, people)`,
		},
	}
	files, _ := filepath.Glob("testdata/directory/*.yaml")
	seen := 0
	for _, f := range files {
		name := filepath.Base(f)
		_, err := LoadDirectory(f)
		if strings.HasSuffix(name, ".good.yaml") {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		want, ok := bad[name]
		if !ok {
			t.Errorf("%s: no expected problems listed", name)
			continue
		}
		seen++
		var fe *rules.FileError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v is not a *rules.FileError", name, err)
			continue
		}
		got := strings.Split(err.Error(), "\n")
		if len(got) != len(want) {
			t.Errorf("%s: %d problems, want %d:\n%s", name, len(got), len(want), err)
			continue
		}
		for i := range want {
			if !strings.HasSuffix(got[i], want[i]) {
				t.Errorf("%s: problem %d\n got %s\nwant %s", name, i, got[i], want[i])
			}
		}
	}
	if seen != len(bad) {
		t.Errorf("%d bad files checked, %d listed", seen, len(bad))
	}
}

func TestDirectoryFindsWhoToRemindAtEachLevel(t *testing.T) {
	d := testDirectory(t, "")
	for _, tc := range []struct {
		dept, responsible, level string
		want, note               string
	}{
		{"D01", "zhang.san", rules.Responsible, "zhang.san", ""},
		{"D01", "李明", rules.Responsible, "li.ming", ""}, // by name within the department
		{"D01", "zhang.san", rules.SectionHead, "wang.ke", ""},
		{"D01", "li.ming", rules.SectionHead, "chen.ke", ""}, // the person's own head
		{"D01", "li.ming", rules.Leader, "zhao.ju", ""},
		{"D01", "", rules.Responsible, "wang.ke", "no responsible named: sent to the section head"},
		{"D02", "ghost", rules.Responsible, "zhou.zhi", `responsible "ghost" is not in the directory: sent to the department's duty contact`},
		{"D01", "zhang.san", rules.Leader, "zhao.ju", ""},
		{"D09", "zhang.san", rules.Responsible, "zhang.san", ""}, // by id, whatever the item's department
		{"D09", "nobody", rules.Responsible, "", "department D09 is not in the directory"},
	} {
		p, note := d.Recipient(tc.dept, tc.responsible, tc.level)
		got := ""
		if p != nil {
			got = p.ID
		}
		if got != tc.want || note != tc.note {
			t.Errorf("%s %q %s: %q (%q), want %q (%q)", tc.dept, tc.responsible, tc.level, got, note, tc.want, tc.note)
		}
	}
}

func TestWebhookIsSignedAndTheReceiverVerifiesIt(t *testing.T) {
	r := newReceiver(t)
	wh := NewWebhook(testSecret, 5*time.Second, testDirectory(t, r.URL))
	m := testMessage()
	if addr := wh.Address(&m.To, "D01"); addr != r.URL+"/hook/D01" {
		t.Fatalf("address %q", addr)
	}
	if err := wh.Send(context.Background(), r.URL+"/hook/D01", m); err != nil {
		t.Fatal(err)
	}
	ok, got, _, bad := r.snapshot()
	if bad != 0 || ok[m.ID] != 1 || len(got) != 1 || got[0].Msg.Item.CaseID != "C-1" || got[0].Msg.AckURL != m.AckURL || got[0].Msg.Due.Unix() != m.Due.Unix() {
		t.Fatalf("receiver: ok=%v bad=%d got=%+v", ok, bad, got)
	}

	// A wrong secret, a tampered body and a replayed old request all fail.
	body := []byte(`{"id":"x"}`)
	now := time.Unix(time.Now().Unix(), 0)
	for _, tc := range []struct {
		name string
		ts   int64
		sig  string
		body []byte
		want string
	}{
		{"right", now.Unix(), Sign([]byte(testSecret), now.Unix(), body), body, ""},
		{"wrong secret", now.Unix(), Sign([]byte("guess"), now.Unix(), body), body, ErrBadSignature.Error()},
		{"tampered body", now.Unix(), Sign([]byte(testSecret), now.Unix(), body), []byte(`{"id":"y"}`), ErrBadSignature.Error()},
		{"replayed an hour later", now.Add(-time.Hour).Unix(), Sign([]byte(testSecret), now.Add(-time.Hour).Unix(), body), body, "is 1h0m0s away from now"},
	} {
		h := http.Header{}
		h.Set(HeaderTimestamp, strconv.FormatInt(tc.ts, 10))
		h.Set(HeaderSignature, tc.sig)
		err := Verify([]byte(testSecret), h, tc.body, now, 5*time.Minute)
		if (tc.want == "" && err != nil) || (tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want))) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestWebhookReportsAnErrorAnswer(t *testing.T) {
	r := newReceiver(t)
	r.failFirst = func(*Message) bool { return true }
	wh := NewWebhook(testSecret, 5*time.Second, testDirectory(t, r.URL))
	err := wh.Send(context.Background(), r.URL+"/hook/D01", testMessage())
	if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error: gateway restarting") {
		t.Fatalf("error %v", err)
	}
}

func TestEmailReachesALocalSMTPServer(t *testing.T) {
	srv := newSMTPServer(t)
	e := NewEmail(SMTPConfig{Addr: srv.addr(), From: "督查 <effidx@city.example.gov.cn>", Timeout: 5 * time.Second}, cst)
	m := testMessage()
	if err := e.Send(context.Background(), m.To.Email, m); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 || msgs[0].From != "effidx@city.example.gov.cn" || len(msgs[0].To) != 1 || msgs[0].To[0] != "zhang.san@d01.example.gov.cn" {
		t.Fatalf("envelope %+v", msgs)
	}
	hdr, body := parseMail(t, msgs[0].Data)
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(hdr.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	to, err := hdr.Header.AddressList("To")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ what, got, want string }{
		{"subject", subject, "【催办】办件 C-1"},
		{"message id", hdr.Header.Get("Message-ID"), "<" + m.ID + "@effidx>"},
		{"to", to[0].Name + " " + to[0].Address, "张三 zhang.san@d01.example.gov.cn"},
		{"content type", hdr.Header.Get("Content-Type"), "text/plain; charset=UTF-8"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	for _, want := range []string{"张三：", "您负责的办件 C-1已超期", "部门：D01", "事项：M-LICENCE", "亮灯：红灯", "到期：2024-10-16 23:59", "已超期：1 个工作日",
		"查看：https://effidx.example.gov.cn/lights?case=C-1", "确认收到：https://effidx.example.gov.cn/reminders/ack/x.y"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestEmailReportsAnUnreachableServer(t *testing.T) {
	e := NewEmail(SMTPConfig{Addr: "127.0.0.1:1", From: "effidx@city.example.gov.cn", Timeout: time.Second}, cst)
	err := e.Send(context.Background(), "x@example.gov.cn", testMessage())
	if err == nil || !strings.Contains(err.Error(), "smtp 127.0.0.1:1") {
		t.Fatalf("error %v", err)
	}
}

func TestReminderAndDeliveryIDs(t *testing.T) {
	for _, tc := range []struct {
		step, item string
		repeat     int
		want       string
	}{
		{"overdue", "", 0, "rm:overdue"},
		{"overdue", "", 2, "rm:overdue#2"},
		{"legal_overdue", "s3", 1, "rm:legal_overdue#1@s3"},
		{"overdue", "a@b", 0, "rm:overdue@a@b"},
	} {
		if got := ReminderID(tc.step, tc.repeat, tc.item); got != tc.want {
			t.Errorf("ReminderID(%q, %d, %q) = %q, want %q", tc.step, tc.repeat, tc.item, got, tc.want)
		}
	}
	a := deliveryID("service", "C-1", "", "overdue", 0, 0, "webhook")
	for _, other := range []string{
		deliveryID("service", "C-1", "", "overdue", 1, 0, "webhook"),
		deliveryID("service", "C-1", "", "overdue", 0, 1, "webhook"),
		deliveryID("service", "C-1", "", "overdue", 0, 0, "email"),
		deliveryID("step", "C-1", "", "overdue", 0, 0, "webhook"),
	} {
		if other == a {
			t.Error("two deliveries share an id")
		}
	}
	if len(a) != 32 || a != deliveryID("service", "C-1", "", "overdue", 0, 0, "webhook") {
		t.Errorf("id %q is not a stable 128-bit hex", a)
	}
}

func TestAckTokensAreSignedAndExpire(t *testing.T) {
	j := &Job{cfg: Config{AckSecret: "0123456789abcdef-secret", BaseURL: "https://effidx.example.gov.cn/"}}
	now := time.Date(2024, 10, 17, 11, 0, 0, 0, cst)
	c := ackClaims{Case: "C-1", Topic: "t1", Person: "zhang.san", Expires: now.Add(time.Hour).Unix()}
	u := j.ackURL(c)
	token, ok := strings.CutPrefix(u, "https://effidx.example.gov.cn/reminders/ack/")
	if !ok {
		t.Fatalf("url %s", u)
	}
	if got, err := j.verifyAck(token, now); err != nil || got != c {
		t.Fatalf("verify: %+v %v", got, err)
	}
	payload, sig, _ := strings.Cut(token, ".")
	other := j.ackToken(ackClaims{Case: "C-2", Topic: "t1", Person: "zhang.san", Expires: c.Expires})
	otherPayload, _, _ := strings.Cut(other, ".")
	for _, tc := range []struct{ name, token, want string }{
		{"another case under this signature", otherPayload + "." + sig, errBadToken.Error()},
		{"no signature", payload, errBadToken.Error()},
		{"garbage", "%%%", errBadToken.Error()},
	} {
		if _, err := j.verifyAck(tc.token, now); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := j.verifyAck(token, now.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired on 2024-10-17 12:00") {
		t.Errorf("expired: %v", err)
	}
	j2 := &Job{cfg: Config{AckSecret: "another-secret-entirely"}}
	if _, err := j2.verifyAck(token, now); err == nil {
		t.Error("a token verified under another secret")
	}
}

func TestShippedDirectoryExampleParses(t *testing.T) {
	d, err := LoadDirectory("../deployments/reminders/directory.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Recipient("D01", "李四", rules.SectionHead); p == nil || p.ID != "chen.ke" || len(d.People) != 8 {
		t.Errorf("example directory: %d people, 李四's head %v", len(d.People), p)
	}
}
