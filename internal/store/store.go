// Package store is hookflow's persistence: repositories over GORM and the versioned
// SQL migrations, for Postgres (production and tests) and SQLite (`hookflow dev`).
// It is the only package that imports GORM; everything it returns is a models type.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/models"
)

// ErrNotMigrated means the database schema is older than this binary expects.
var ErrNotMigrated = errors.New("database is not migrated")

//go:embed migrations
var migrationFS embed.FS

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Store is the database. Create it with Open.
type Store struct {
	db      *gorm.DB
	dialect string
	keys    *secretbox.Keyring
}

// Open connects to databaseURL: postgres://… (or postgresql://…) for Postgres;
// sqlite:/path/file.db, file:/path/file.db or a path ending in .db for SQLite.
func Open(ctx context.Context, databaseURL string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := &gorm.Config{
		Logger:                 slowLogger{log: log, threshold: 200 * time.Millisecond},
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	var (
		db      *gorm.DB
		dialect string
		err     error
	)
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		dialect = Postgres
		db, err = gorm.Open(postgres.Open(databaseURL), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	case strings.HasPrefix(databaseURL, "sqlite:"), strings.HasPrefix(databaseURL, "file:"), strings.HasSuffix(databaseURL, ".db"):
		dialect = SQLite
		path := strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "file:")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		sqlDB, err := openSQLite(path)
		if err != nil {
			return nil, err
		}
		db, err = gorm.Open(sqlite.Dialector{DriverName: "sqlite", Conn: sqlDB}, cfg)
		if err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
	default:
		return nil, fmt.Errorf("unsupported DATABASE_URL %q: want postgres://… or sqlite:/path/file.db", redact(databaseURL))
	}
	s := &Store{db: db, dialect: dialect}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Ping(pingCtx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openSQLite opens the file through modernc.org/sqlite (pure Go; the same driver the
// embedded Temporal server links, registered as "sqlite"). WAL lets readers run
// beside the writer; one open connection serialises writes, which SQLite needs anyway.
func openSQLite(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite path %q: %w", path, err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_time_format", "sqlite")
	db, err := sql.Open("sqlite", "file:"+abs+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func redact(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = url.User(p.User.Username())
		return p.String()
	}
	return u
}

// Dialect is "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

type migration struct {
	version int
	name    string
	sql     string
}

func (s *Store) migrations() ([]migration, error) {
	dir := "migrations/" + s.dialect
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		b, err := migrationFS.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// LatestVersion is the schema version this binary expects.
func (s *Store) LatestVersion() (int, error) {
	ms, err := s.migrations()
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	return ms[len(ms)-1].version, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamp NOT NULL)`

// Migrate applies the pending migrations, in order, in one transaction, and returns
// their versions. On Postgres an advisory lock makes concurrent runs (two pods
// starting at once) take turns; the second finds nothing to do.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	ms, err := s.migrations()
	if err != nil {
		return nil, err
	}
	var applied []int
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == Postgres {
			if err := tx.Exec(`SELECT pg_advisory_xact_lock(7364827361)`).Error; err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		if err := tx.Exec(createMigrationsTable).Error; err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var done []int
		if err := tx.Raw(`SELECT version FROM schema_migrations`).Scan(&done).Error; err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		have := map[int]bool{}
		for _, v := range done {
			have[v] = true
		}
		for _, m := range ms {
			if have[m.version] {
				continue
			}
			for _, stmt := range splitStatements(m.sql) {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
			}
			if err := tx.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.version, time.Now().UTC()).Error; err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
			applied = append(applied, m.version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

// splitStatements splits a migration file at semicolons that end a line.
func splitStatements(sqlText string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sqlText, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			if stmt := strings.TrimSpace(cur.String()); stmt != ";" {
				out = append(out, strings.TrimSuffix(stmt, ";"))
			}
			cur.Reset()
		}
	}
	if stmt := strings.TrimSpace(cur.String()); stmt != "" {
		out = append(out, stmt)
	}
	return out
}

// CheckMigrated returns an error wrapping ErrNotMigrated unless the schema is at the
// version this binary expects.
func (s *Store) CheckMigrated(ctx context.Context) error {
	want, err := s.LatestVersion()
	if err != nil {
		return err
	}
	have := 0
	if s.db.Migrator().HasTable("schema_migrations") {
		var v sql.NullInt64
		if err := s.db.WithContext(ctx).Raw(`SELECT MAX(version) FROM schema_migrations`).Scan(&v).Error; err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		have = int(v.Int64)
	}
	if have < want {
		return fmt.Errorf("%w: schema is at version %d, want %d: run `hookflow migrate`", ErrNotMigrated, have, want)
	}
	if have > want {
		return fmt.Errorf("database schema is at version %d, newer than this binary (%d): upgrade hookflow", have, want)
	}
	return nil
}

// translate maps driver errors to the models' sentinels.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", what, models.ErrNotFound)
	}
	if isUniqueViolation(err) {
		return fmt.Errorf("%s: %w", what, models.ErrConflict)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", what, models.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// unavailable reports whether err says the database cannot serve right now (it is
// stopped, shutting down, starting up, or the connection broke) rather than that the
// statement is wrong: callers answer 503 and try again, not 500.
func unavailable(err error) bool {
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is a connection exception; 57P01, 57P02 and 57P03 are an
		// administrator's shutdown, a crash and a server still starting; 53300 is too
		// many connections.
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *msqlite.Error
	if errors.As(err, &sqErr) {
		code := sqErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// slowLogger reports slow queries without their SQL: the statement carries values,
// and values can be secrets.
type slowLogger struct {
	log       *slog.Logger
	threshold time.Duration
}

func (l slowLogger) LogMode(logger.LogLevel) logger.Interface { return l }
func (l slowLogger) Info(context.Context, string, ...any)     {}
func (l slowLogger) Warn(context.Context, string, ...any)     {}
func (l slowLogger) Error(context.Context, string, ...any)    {}
func (l slowLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if d := time.Since(begin); d > l.threshold {
		l.log.WarnContext(ctx, "slow database query", "duration", d)
	}
}
