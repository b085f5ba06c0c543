package devstack

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	clusterName = "active"
	storeName   = "sqlite-default"
)

// prepareDatabase returns the SQLite settings for the server, creating the
// schema on a new file and the namespace when it is missing. Both have to
// exist before the server starts: it refuses to run on an empty database.
func prepareDatabase(o Options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DataDir == "" {
		// The plugin creates the schema itself for in-memory databases. The
		// name only has to be unique within the process, because every
		// connection to an in-memory database with the same name shares it.
		conf.DatabaseName = "hookflow-" + rand.Text()
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		dir, err := filepath.Abs(o.DataDir)
		if err != nil {
			return nil, fmt.Errorf("data dir %q: %w", o.DataDir, err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		conf.DatabaseName = filepath.Join(dir, DatabaseFile)
		// Attributes other than mode become "PRAGMA key=value" on every
		// connection. WAL and synchronous=normal spare an fsync per commit,
		// which makes the server several times faster on SQLite and loses at
		// most the last commits on power loss (not on a crash), a fair trade
		// for a dev server. busy_timeout makes a writer wait for a lock
		// instead of failing at once.
		conf.ConnectAttributes = map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			"synchronous":  "normal",
			"busy_timeout": "10000",
		}
		if err := setupSchemaOnce(conf); err != nil {
			return nil, err
		}
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", o.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(o.Retention)
	// A no-op when the namespace exists: search attributes added since are
	// registered once the server runs (see ensureSearchAttributes).
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", o.Namespace, err)
	}
	return conf, nil
}

// setupSchemaOnce creates the schema when the database file does not exist
// yet. A failed setup removes the file again, so that the next start retries
// instead of running on half a schema.
func setupSchemaOnce(conf *config.SQL) error {
	path := conf.DatabaseName
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("temporal database: %w", err)
	}
	if err := sqliteschema.SetupSchema(conf); err != nil {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(path + suffix)
		}
		return fmt.Errorf("create temporal schema in %s: %w", path, err)
	}
	return nil
}

// persistenceStores are the databases the server runs on.
type persistenceStores struct {
	main, visibility     *config.SQL
	name, visibilityName string
	registerNamespace    bool // the namespace is registered over the API once the server runs
}

// serverOptions assembles a single-process cluster: all four services in
// this process, static membership (no gossip ports), o.NumHistoryShards
// history shards.
func serverOptions(o Options, p addrPlan, stores persistenceStores, logger *slog.Logger) ([]temporal.ServerOption, error) {
	ports := map[primitives.ServiceName]int{primitives.FrontendService: p.frontendPort}
	for _, svc := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		port, err := freePort(p.internalIP)
		if err != nil {
			return nil, err
		}
		ports[svc] = port
	}

	services := make(map[string]config.Service, len(ports))
	hosts := make(map[primitives.ServiceName]static.Hosts, len(ports))
	for svc, port := range ports {
		rpc := config.RPC{GRPCPort: port, BindOnIP: p.internalIP}
		if svc == primitives.FrontendService {
			rpc.BindOnIP = p.frontendBindIP
			rpc.HTTPPort = p.httpPort
		}
		services[string(svc)] = config.Service{RPC: rpc}
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(p.internalIP, strconv.Itoa(port)))
	}

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = p.internalIP
	conf.Persistence.DefaultStore = stores.name
	conf.Persistence.VisibilityStore = stores.visibilityName
	conf.Persistence.NumHistoryShards = o.NumHistoryShards
	conf.Persistence.DataStores = map[string]config.DataStore{
		stores.name:           {SQL: stores.main},
		stores.visibilityName: {SQL: stores.visibility},
	}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             p.frontend,
				HTTPAddress:            net.JoinHostPort(p.internalIP, strconv.Itoa(p.httpPort)),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = services
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service runs its system workflows through this client.
	conf.PublicClient.HostPort = p.frontend

	return []temporal.ServerOption{
		temporal.WithConfig(&conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(newServerLogger(logger)),
		temporal.WithDynamicConfigClient(dynamicConfig(o.DynamicConfig)),
	}, nil
}

// dynamicConfig tunes the server for one process serving one developer, then
// applies the caller's overrides.
func dynamicConfig(overrides map[string]any) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		// The default (128k mutable states) is sized for a cluster node; a
		// laptop needs far fewer and should not spend the memory.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8192,
		// The Web UI issues many list/count calls per page; the default of 10
		// per second makes it fail with "namespace rate limit exceeded".
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// With the default four partitions a single worker's pollers spread
		// over partitions that may hold no task while another holds one, and
		// tasks wait for forwarding between partitions. One partition hands
		// each task straight to the waiting poller.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
		// The scanners garbage-collect task queues and history branches of a
		// long-lived cluster. A dev data dir never grows enough to need them,
		// and the server never stops their SDK workers, which keep polling a
		// stopped server from inside this process after Stop.
		dynamicconfig.TaskQueueScannerEnabled.Key(): false,
		dynamicconfig.HistoryScannerEnabled.Key():   false,
	}
	for k, v := range overrides {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	return dc
}
