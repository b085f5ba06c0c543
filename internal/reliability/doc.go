// Package reliability is hookflow's reliability battery: tests, built only with the
// `reliability` build tag (`make test-reliability`), that run the real processes
// (`hookflow server`, `hookflow worker`, `hookflow temporal`, Postgres, loopback
// receivers), inject faults with signals and restarts, and write their figures to
// docs/RELIABILITY.md. The package has no code outside its tests.
package reliability
