package models

import "time"

// Member is a loyalty programme member of a workspace.
type Member struct {
	WorkspaceID    string    `json:"workspace_id"`
	CustomerID     string    `json:"customer_id"`
	Name           string    `json:"name,omitempty"`
	Balance        int64     `json:"balance"`
	LifetimePoints int64     `json:"lifetime_points"`
	Tier           string    `json:"tier"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Tier is a loyalty level reached at MinPoints lifetime points.
type Tier struct {
	Name      string `json:"name"`
	MinPoints int64  `json:"min_points"`
}

// DefaultTiers are the tiers of a workspace that has not set its own.
func DefaultTiers() []Tier {
	return []Tier{{Name: "Bronze", MinPoints: 0}, {Name: "Silver", MinPoints: 500}, {Name: "Gold", MinPoints: 1500}, {Name: "Platinum", MinPoints: 5000}}
}

// TierFor returns the highest tier whose threshold lifetime reaches; tiers must be
// ordered by MinPoints.
func TierFor(tiers []Tier, lifetime int64) string {
	name := ""
	for _, t := range tiers {
		if lifetime >= t.MinPoints {
			name = t.Name
		}
	}
	return name
}

// LedgerEntry is one change to a member's points. IdempotencyKey is unique per
// workspace, so a retried step cannot award twice.
type LedgerEntry struct {
	ID             string    `json:"id"`
	WorkspaceID    string    `json:"workspace_id"`
	CustomerID     string    `json:"customer_id"`
	Delta          int64     `json:"delta"`
	Reason         string    `json:"reason,omitempty"`
	IdempotencyKey string    `json:"idempotency_key"`
	BalanceAfter   int64     `json:"balance_after"`
	TierBefore     string    `json:"tier_before"`
	TierAfter      string    `json:"tier_after"`
	CreatedAt      time.Time `json:"created_at"`
}

// PointsChange is the outcome of awarding or redeeming points.
type PointsChange struct {
	Member       Member      `json:"member"`
	Entry        LedgerEntry `json:"entry"`
	PreviousTier string      `json:"previous_tier"`
	// Applied is false when the idempotency key was already used: the change happened
	// before and Member/Entry describe that earlier result.
	Applied bool `json:"applied"`
}
