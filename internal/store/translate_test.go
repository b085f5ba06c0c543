package store

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookflow/hookflow/models"
)

// TestTranslateOutage: errors that mean the database is down, restarting or cut off
// are ErrUnavailable (the API answers 503), and errors about the statement are not.
func TestTranslateOutage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"cannot connect", &pgconn.ConnectError{}, true},
		{"starting up (57P03)", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, true},
		{"admin shutdown (57P01)", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"connection failure (08006)", fmt.Errorf("query: %w", &pgconn.PgError{Code: "08006"}), true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"cut off mid-reply", io.ErrUnexpectedEOF, true},
		{"bad input", &pgconn.PgError{Code: "22P02", Message: "invalid input syntax"}, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"other", errors.New("something else"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate(tt.err, "api key")
			if errors.Is(got, models.ErrUnavailable) != tt.want {
				t.Errorf("translate(%v) = %v: unavailable %v, want %v", tt.err, got, !tt.want, tt.want)
			}
		})
	}
	if err := translate(&pgconn.PgError{Code: "23505"}, "x"); !errors.Is(err, models.ErrConflict) {
		t.Errorf("unique violation = %v, want ErrConflict", err)
	}
}
