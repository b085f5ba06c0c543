package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
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
