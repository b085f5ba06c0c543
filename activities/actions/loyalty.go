package actions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookflow/hookflow/models"
)

// LoyaltyStore is the ledger the loyalty actions write.
type LoyaltyStore interface {
	ApplyPoints(ctx context.Context, workspaceID, customerID, name string, delta int64, reason, idempotencyKey string, at time.Time) (*models.PointsChange, error)
}

// Ledger is what the loyalty actions share: the points ledger they write, with the
// step's key as its idempotency key so a retried step changes the balance once, and
// the emitter for the events a change causes. Its writes are internal: a failure
// retries quickly.
type Ledger struct {
	Store   LoyaltyStore
	Emitter *Emitter
}

// Retry implements Action.
func (Ledger) Retry() RetryKind { return RetryInternal }

// AwardPoints is `loyalty.award_points` {"customer_id","customer_name"?,"points","reason"?}.
// It emits loyalty.points_earned, and loyalty.tier_changed when a threshold is crossed.
type AwardPoints struct{ Ledger }

// Name implements Action.
func (AwardPoints) Name() string { return "loyalty.award_points" }

// Run implements Action.
func (a AwardPoints) Run(ctx context.Context, sc StepContext, params map[string]any) (map[string]any, error) {
	customer, err := str(params, "customer_id", true)
	if err != nil {
		return nil, err
	}
	name, err := str(params, "customer_name", false)
	if err != nil {
		return nil, err
	}
	reason, err := str(params, "reason", false)
	if err != nil {
		return nil, err
	}
	points, err := integer(params, "points")
	if err != nil {
		return nil, err
	}
	if points < 0 || points > 1_000_000_000 {
		return nil, Final(fmt.Errorf("params.points must be between 0 and 1000000000, not %d", points))
	}
	ch, err := a.Store.ApplyPoints(ctx, sc.WorkspaceID, customer, name, points, reason, sc.Key, time.Now().UTC())
	if keyReused(err) {
		return nil, Final(fmt.Errorf("award %d points to %s: %w", points, customer, err))
	}
	if err != nil {
		return nil, fmt.Errorf("award %d points to %s: %w", points, customer, err)
	}
	m := ch.Member
	if name == "" {
		name = m.Name
	}
	changed := ch.Entry.TierBefore != ch.Entry.TierAfter
	out := map[string]any{
		"customer_id":     customer,
		"customer_name":   name,
		"points":          points,
		"balance":         ch.Entry.BalanceAfter,
		"lifetime_points": m.LifetimePoints,
		"tier":            ch.Entry.TierAfter,
		"previous_tier":   ch.Entry.TierBefore,
		"tier_changed":    changed,
	}
	if points > 0 {
		if _, err := a.Emitter.Emit(ctx, sc, "points_earned", "loyalty.points_earned", map[string]any{
			"customer_id": customer, "customer_name": name, "points": points, "balance": ch.Entry.BalanceAfter,
			"lifetime_points": m.LifetimePoints, "tier": ch.Entry.TierAfter, "reason": reason,
		}); err != nil {
			return nil, err
		}
	}
	if changed {
		if _, err := a.Emitter.Emit(ctx, sc, "tier_changed", "loyalty.tier_changed", map[string]any{
			"customer_id": customer, "customer_name": name, "previous_tier": ch.Entry.TierBefore,
			"tier": ch.Entry.TierAfter, "lifetime_points": m.LifetimePoints,
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Redeem is `loyalty.redeem` {"customer_id","points","reward"}: it fails for good if
// the balance is short, and emits loyalty.reward_redeemed.
type Redeem struct{ Ledger }

// Name implements Action.
func (Redeem) Name() string { return "loyalty.redeem" }

// Run implements Action.
func (a Redeem) Run(ctx context.Context, sc StepContext, params map[string]any) (map[string]any, error) {
	customer, err := str(params, "customer_id", true)
	if err != nil {
		return nil, err
	}
	reward, err := str(params, "reward", true)
	if err != nil {
		return nil, err
	}
	points, err := integer(params, "points")
	if err != nil {
		return nil, err
	}
	if points <= 0 {
		return nil, Final(fmt.Errorf("params.points must be positive, not %d", points))
	}
	ch, err := a.Store.ApplyPoints(ctx, sc.WorkspaceID, customer, "", -points, "redeem: "+reward, sc.Key, time.Now().UTC())
	if errors.Is(err, models.ErrInsufficientPoints) || errors.Is(err, models.ErrNotFound) || keyReused(err) {
		return nil, Final(fmt.Errorf("redeem %d points for %s: %w", points, customer, err))
	}
	if err != nil {
		return nil, fmt.Errorf("redeem %d points for %s: %w", points, customer, err)
	}
	if _, err := a.Emitter.Emit(ctx, sc, "reward_redeemed", "loyalty.reward_redeemed", map[string]any{
		"customer_id": customer, "points": points, "reward": reward, "balance": ch.Entry.BalanceAfter,
	}); err != nil {
		return nil, err
	}
	return map[string]any{"customer_id": customer, "points": points, "reward": reward, "balance": ch.Entry.BalanceAfter}, nil
}

// keyReused: the step's key was used for another change, which retrying cannot fix.
func keyReused(err error) bool {
	var kr *models.KeyReusedError
	return errors.As(err, &kr)
}
