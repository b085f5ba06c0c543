package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

type tiersBody struct {
	Tiers []models.Tier `json:"tiers"`
}

func (s *Server) getTiers(c *gin.Context) {
	tiers, err := s.loyalty.GetTiers(c.Request.Context(), workspace(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, tiersBody{Tiers: tiers})
}

// putTiers replaces the tiers. They must start at 0 points and rise strictly, so
// every member has exactly one tier.
func (s *Server) putTiers(c *gin.Context) {
	var req tiersBody
	if !s.bindJSON(c, &req, 64<<10) {
		return
	}
	if len(req.Tiers) == 0 || len(req.Tiers) > 50 {
		s.fail(c, models.Invalid("tiers", "give 1 to 50 tiers"))
		return
	}
	seen := map[string]bool{}
	for i, t := range req.Tiers {
		switch {
		case t.Name == "" || len(t.Name) > 64:
			s.fail(c, models.Invalid("tiers", "item %d: name must be 1-64 characters", i))
			return
		case seen[t.Name]:
			s.fail(c, models.Invalid("tiers", "item %d: name %q is used twice", i, t.Name))
			return
		case i == 0 && t.MinPoints != 0:
			s.fail(c, models.Invalid("tiers", "item 0: the first tier must start at min_points 0"))
			return
		case i > 0 && t.MinPoints <= req.Tiers[i-1].MinPoints:
			s.fail(c, models.Invalid("tiers", "item %d: min_points must rise (%d is not above %d)", i, t.MinPoints, req.Tiers[i-1].MinPoints))
			return
		}
		seen[t.Name] = true
	}
	if err := s.loyalty.SetTiers(c.Request.Context(), workspace(c), req.Tiers); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, req)
}

func (s *Server) getMember(c *gin.Context) {
	m, err := s.loyalty.GetMember(c.Request.Context(), workspace(c), c.Param("customer_id"))
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			err = notFound("member", c.Param("customer_id"))
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

func (s *Server) getLedger(c *gin.Context) {
	page, ok := s.page(c, ids.Ledger)
	if !ok {
		return
	}
	if _, err := s.loyalty.GetMember(c.Request.Context(), workspace(c), c.Param("customer_id")); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			err = notFound("member", c.Param("customer_id"))
		}
		s.fail(c, err)
		return
	}
	entries, next, err := s.loyalty.Ledger(c.Request.Context(), workspace(c), c.Param("customer_id"), page)
	if err != nil {
		s.fail(c, err)
		return
	}
	if entries == nil {
		entries = []models.LedgerEntry{}
	}
	c.JSON(http.StatusOK, listResponse(entries, next))
}

type redemptionRequest struct {
	Points int64  `json:"points"`
	Reward string `json:"reward"`
}

// createRedemption spends points: 409 if the balance is short. An Idempotency-Key
// header makes a retried request spend once.
func (s *Server) createRedemption(c *gin.Context) {
	var req redemptionRequest
	if !s.bindJSON(c, &req, 16<<10) {
		return
	}
	if req.Points <= 0 {
		s.fail(c, models.Invalid("points", "must be a positive whole number"))
		return
	}
	if req.Reward == "" || len(req.Reward) > 200 {
		s.fail(c, models.Invalid("reward", "is required (at most 200 characters)"))
		return
	}
	key := c.GetHeader("Idempotency-Key")
	if err := validateKey("Idempotency-Key", key); err != nil {
		s.fail(c, err)
		return
	}
	if key == "" {
		key = ids.New("red")
	} else {
		key = "api:" + key
	}
	ctx := c.Request.Context()
	if _, err := s.loyalty.GetMember(ctx, workspace(c), c.Param("customer_id")); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			err = notFound("member", c.Param("customer_id"))
		}
		s.fail(c, err)
		return
	}
	ch, err := s.loyalty.ApplyPoints(ctx, workspace(c), c.Param("customer_id"), "", -req.Points, "redeem: "+req.Reward, key, s.cfg.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"customer_id": c.Param("customer_id"), "points": req.Points, "reward": req.Reward,
		"balance": ch.Entry.BalanceAfter, "entry": ch.Entry, "duplicate": !ch.Applied})
}
