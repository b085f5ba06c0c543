// Package deploy holds hookflow's deployment files: the container image
// (Dockerfile), a docker-compose file with the production topology on one machine,
// and Kubernetes manifests (k8s/). It has no code; its tests check those files
// offline (strict decoding with client-go's scheme, cross-references, and that the
// image builds the same binary as `make build`), so `go test ./...` catches a broken
// manifest before a cluster does.
package deploy
