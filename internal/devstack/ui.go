package devstack

import (
	"net"
	"strconv"
	"strings"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// newUIServer configures the Web UI with the assets embedded in the
// ui-server module, talking gRPC to the frontend. addr has been checked by
// planAddresses: the UI server cannot report a listen error, it exits.
func newUIServer(addr, frontend, namespace string) *uiserver.Server {
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	if strings.Contains(host, ":") {
		// The UI server joins host and port with a bare colon.
		host = "[" + host + "]"
	}
	return uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: frontend,
		DefaultNamespace:    namespace,
		EnableUI:            true,
		// Plain HTTP on loopback: a Secure CSRF cookie would never be sent
		// back and every UI action would fail.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// The request log and banner would go to stdout, outside Logger.
		HideLogs: true,
		// The UI would otherwise call out to temporal.io for news and
		// releases; a dev server should work offline and stay quiet.
		DisableNewsFetch:   true,
		NotifyOnNewVersion: false,
	}))
}
