package devstack

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	pgplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// Schema names of Temporal's embedded Postgres schemas (go.temporal.io/server/schema),
// so nothing is read from disk.
const (
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
)

// Pool sizes used when Postgres leaves them zero. The server opens a pool per
// store and per service that uses it (history, matching, frontend, worker),
// so these multiply: 4 services × (20 + 10) stays well inside Postgres's
// default max_connections of 100 next to the application's own pool.
const (
	DefaultPostgresMaxConns           = 20
	DefaultPostgresVisibilityMaxConns = 10
	// DefaultPostgresShards suits a machine with a few cores: enough shards
	// that history's per-shard locks do not serialise the workload, few
	// enough that each shard's background queues stay cheap. Measured on 2
	// cores in docs/BENCHMARKS.md.
	DefaultPostgresShards = 4
)

// Postgres is a Postgres server Temporal keeps its state in, instead of
// SQLite: the persistence that makes the embedded server a load target
// (SQLite has one writer). Start creates both databases when missing and
// sets up or upgrades Temporal's schema in them.
type Postgres struct {
	// Host and Port of the server; empty and zero mean 127.0.0.1:5432.
	Host string
	Port int
	// User and Password log in; the user must be allowed to create databases
	// unless both exist.
	User     string
	Password string
	// Database holds workflows, history and task queues; VisibilityDatabase
	// holds what List/Count queries (and the Web UI) search. They must differ.
	Database           string
	VisibilityDatabase string
	// MaxConns and VisibilityMaxConns size the connection pool of each
	// store, per service; zero means the defaults above.
	MaxConns           int
	VisibilityMaxConns int
	// AdminDatabase is the database Start connects to in order to create the
	// others; empty means "postgres".
	AdminDatabase string
}

// PostgresFromURL reads a postgres:// URL: its database becomes Database and
// "<database>_visibility" VisibilityDatabase.
func PostgresFromURL(raw string) (*Postgres, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("postgres URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("postgres URL: scheme %q, want postgres://", u.Scheme)
	}
	p := &Postgres{Host: u.Hostname(), User: u.User.Username()}
	p.Password, _ = u.User.Password()
	if ps := u.Port(); ps != "" {
		if p.Port, err = strconv.Atoi(ps); err != nil {
			return nil, fmt.Errorf("postgres URL: port %q", ps)
		}
	}
	p.Database = strings.TrimPrefix(u.Path, "/")
	if p.Database == "" {
		return nil, fmt.Errorf("postgres URL: no database name")
	}
	p.VisibilityDatabase = p.Database + "_visibility"
	return p, nil
}

func (p Postgres) withDefaults() Postgres {
	if p.Host == "" {
		p.Host = "127.0.0.1"
	}
	if p.Port == 0 {
		p.Port = 5432
	}
	if p.MaxConns == 0 {
		p.MaxConns = DefaultPostgresMaxConns
	}
	if p.VisibilityMaxConns == 0 {
		p.VisibilityMaxConns = DefaultPostgresVisibilityMaxConns
	}
	if p.AdminDatabase == "" {
		p.AdminDatabase = "postgres"
	}
	return p
}

func (p Postgres) sqlConfig(database string, maxConns int) *config.SQL {
	return &config.SQL{
		PluginName:   pgplugin.PluginName,
		ConnectAddr:  net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		User:         p.User,
		Password:     p.Password,
		DatabaseName: database,
		MaxConns:     maxConns,
		// Idle connections kept at the pool size: under load a pool that
		// closes and reopens connections pays a Postgres backend fork each.
		MaxIdleConns: maxConns,
	}
}

// preparePostgres creates the databases when missing and brings Temporal's
// schemas in them to the version this server needs, with Temporal's own
// schema tool (what `temporal-sql-tool setup-schema -v 0.0` followed by
// `update-schema` does). Both steps are idempotent.
func preparePostgres(p Postgres, logger log.Logger) (main, visibility *config.SQL, err error) {
	if p.Database == "" || p.VisibilityDatabase == "" || p.Database == p.VisibilityDatabase {
		return nil, nil, fmt.Errorf("postgres: Database and VisibilityDatabase must be set and differ, got %q and %q", p.Database, p.VisibilityDatabase)
	}
	main = p.sqlConfig(p.Database, p.MaxConns)
	visibility = p.sqlConfig(p.VisibilityDatabase, p.VisibilityMaxConns)
	for _, s := range []struct {
		conf    *config.SQL
		schema  string
		version string
	}{
		{main, postgresSchema, pgschema.Version},
		{visibility, postgresVisibilitySchema, pgschema.VisibilityVersion},
	} {
		if err := setupPostgresSchema(p, *s.conf, s.schema, s.version, logger); err != nil {
			return nil, nil, err
		}
	}
	return main, visibility, nil
}

func setupPostgresSchema(p Postgres, conf config.SQL, schemaName, version string, logger log.Logger) error {
	create := conf
	// DoCreateDatabase connects to the admin database; CREATE DATABASE is a
	// no-op for one that exists.
	if err := sqltool.DoCreateDatabase(&create, p.AdminDatabase, logger); err != nil {
		return fmt.Errorf("create database %s: %w", conf.DatabaseName, err)
	}
	conn, err := sqltool.NewConnection(&conf, logger)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", conf.DatabaseName, err)
	}
	defer conn.Close()
	// Version tables only, at 0.0; the versioned steps then build the schema,
	// and on a later start apply only what a newer server added.
	setup := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger)
	if err := setup.Run(); err != nil {
		return fmt.Errorf("set up schema versioning in %s: %w", conf.DatabaseName, err)
	}
	update := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{
		DBName:        conf.DatabaseName,
		SchemaName:    schemaName,
		TargetVersion: version,
	}, logger)
	if err := update.Run(); err != nil {
		return fmt.Errorf("update schema %s in %s: %w", schemaName, conf.DatabaseName, err)
	}
	return nil
}
