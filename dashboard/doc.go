// Package dashboard will serve the "city brain" cockpit, rankings,
// self-portraits and lights pages (issue 5) from the indices' results.
package dashboard
