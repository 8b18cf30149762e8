package indices

import (
	"os"
	"testing"

	"effidx/warehouse/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }
