// Package deployments holds no code: it is the home of the deployment
// files (Docker Compose, systemd, Kubernetes, a ClickHouse cluster example)
// and of the test that checks them (deployments_test.go).
package deployments
