package warehouse

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestServerProfileScalesMemoryWithTheMachineAndSpillsGroupBy(t *testing.T) {
	x := serverUsersXML(false)
	val := func(tag string) uint64 {
		t.Helper()
		_, rest, ok := strings.Cut(x, "<"+tag+">")
		v, _, _ := strings.Cut(rest, "</"+tag+">")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || err != nil {
			t.Fatalf("%s missing from the profile:\n%s", tag, x)
		}
		return n
	}
	perQuery, all, spill := val("max_memory_usage"), val("max_memory_usage_for_all_queries"), val("max_bytes_before_external_group_by")
	if !(spill < perQuery && perQuery < all) {
		t.Fatalf("spill %d, per query %d, all queries %d: want spill < per query < all", spill, perQuery, all)
	}
	if total := totalMemory(); total > 0 && (all > total || perQuery < min(total*2/5, 2000000000)) {
		t.Fatalf("per query %d, all %d on a machine with %d bytes", perQuery, all, total)
	}
}

func TestServerProfileLetsAQueryUseEveryCPU(t *testing.T) {
	x := serverUsersXML(true)
	want := "<max_threads>" + strconv.Itoa(runtime.NumCPU()) + "</max_threads>"
	if strings.Count(x, "<max_threads>") != 1 || !strings.Contains(x, want) {
		t.Fatalf("profile lacks %s (once):\n%s", want, x)
	}
}
