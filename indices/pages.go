package indices

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// What the dashboard pages (package dashboard) need from the API beyond
// the JSON routes' methods.

// Catalog is the indicator catalog in force.
func (a *API) Catalog() *Catalog { return a.job.Catalog() }

// Manual is the store of inspector-entered values the API scores with.
func (a *API) Manual() *Manual { return a.manual }

// Now is the job's clock, in the calendar's zone: the pages' default
// period and "today" follow it.
func (a *API) Now() time.Time { return a.job.now().In(a.job.loc()) }

// MatterCase is one service case of a matter completed in a period, with
// its three lines.
type MatterCase struct {
	CaseID     string    `json:"case_id"`
	Department string    `json:"department"`
	Accepted   time.Time `json:"accepted"`
	Completed  time.Time `json:"completed"`
	Legal      int       `json:"legal_days"`    // -1: no statutory limit
	Promised   int       `json:"promised_days"` // -1: no promise
	Used       float64   `json:"used_days"`     // working days used, suspensions left out
	OnTime     bool      `json:"on_time"`
}

// RecentCases is the n service cases of matter completed last in p,
// latest first; dept, when not empty, keeps only that department's (a
// department user sees only its own case ids).
func (a *API) RecentCases(ctx context.Context, matter, dept string, p Period, n int) ([]MatterCase, error) {
	cal, err := a.job.Calendar()
	if cal == nil {
		return nil, err
	}
	args, final, err := a.periodArgs(ctx, cal, p, clickhouse.Named("matter", matter), clickhouse.Named("dept", dept), clickhouse.Named("n", n))
	if err != nil {
		return nil, fmt.Errorf("recent cases of %s: %w", matter, err)
	}
	rows, err := a.job.wh.Conn().Query(ctx, recentCasesSQL(a.job.wh.Database(), final), args...)
	if err != nil {
		return nil, fmt.Errorf("recent cases of %s: %w", matter, err)
	}
	defer rows.Close()
	out := []MatterCase{}
	for rows.Next() {
		var c MatterCase
		var legal, promised int32
		var onTime uint8
		if err := rows.Scan(&c.CaseID, &c.Department, &c.Accepted, &c.Completed, &legal, &promised, &c.Used, &onTime); err != nil {
			return nil, fmt.Errorf("recent cases of %s: %w", matter, err)
		}
		c.Accepted, c.Completed = c.Accepted.In(cal.Location()), c.Completed.In(cal.Location())
		c.Legal, c.Promised, c.OnTime = int(legal), int(promised), onTime == 1
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent cases of %s: %w", matter, err)
	}
	return out, nil
}

// recentCasesSQL reads the same facts as linesSQL, case by case.
func recentCasesSQL(db string, final bool) string {
	return calendarWith(db) + `
SELECT f_case, f_dept, f_start, f_end, toInt32(legal), toInt32(promised), toFloat64(used), toUInt8(on_time)
FROM
(` + periodFactsSQL(db, srcCases, final) + `
) AS f
WHERE k = 1 AND done_in AND f_matter = @matter AND (@dept = '' OR f_dept = @dept)
ORDER BY f_end DESC, f_case
LIMIT @n`
}
