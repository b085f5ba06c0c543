//go:build slim

package main

import (
	"context"
	"errors"
	"io"
)

// A slim build (go build -tags slim) leaves out Temporal's server and Web UI, which
// only `dev` and `temporal` use: the binary for production images, where Temporal
// runs on its own. It is a third of the size, and so is the memory its mapped
// pages take.

var errNotInSlim = errors.New("this hookflow is a slim build, without Temporal's server: run `dev` and `temporal` from the full build (make build-full, or go run ./cmd/hookflow)")

func cmdDev(context.Context, []string, io.Writer, io.Writer, func(string) string) error {
	return errNotInSlim
}

func cmdTemporal(context.Context, []string, io.Writer, io.Writer, func(string) string) error {
	return errNotInSlim
}
