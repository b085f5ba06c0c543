package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/metrics"
)

// healthz says the process is up; it checks nothing else, so an orchestrator does
// not restart a healthy process because a dependency is down.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz says whether this process can do its work: the database and Temporal answer.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := gin.H{}
	status := http.StatusOK
	if err := s.store.Ping(ctx); err != nil {
		checks["database"] = err.Error()
		status = http.StatusServiceUnavailable
	} else {
		checks["database"] = "ok"
	}
	if err := s.engine.Ping(ctx); err != nil {
		checks["temporal"] = err.Error()
		status = http.StatusServiceUnavailable
	} else {
		checks["temporal"] = "ok"
	}
	if status != http.StatusOK {
		c.JSON(status, gin.H{"error": gin.H{"code": "not_ready", "message": "a dependency is not reachable"}, "checks": checks})
		return
	}
	c.JSON(status, gin.H{"status": "ready", "checks": checks})
}

// OpsHandler serves only /healthz, /readyz and /metrics: the worker's ops port, for
// probes and Prometheus, with no API behind it.
func OpsHandler(store Store, engine Engine, m *metrics.Metrics, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{store: store, engine: engine, logger: logger, cfg: Config{Metrics: m}}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(s.recoverJSON())
	r.NoRoute(func(c *gin.Context) {
		writeError(c, http.StatusNotFound, "not_found", "no route for "+c.Request.Method+" "+c.Request.URL.Path)
	})
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if m != nil {
		r.GET("/metrics", gin.WrapH(m.Handler()))
	}
	return r
}
