package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

type tierRow struct {
	WorkspaceID string `gorm:"primaryKey"`
	Name        string `gorm:"primaryKey"`
	MinPoints   int64
}

func (tierRow) TableName() string { return "loyalty_tiers" }

type memberRow struct {
	WorkspaceID    string `gorm:"primaryKey"`
	CustomerID     string `gorm:"primaryKey"`
	Name           string
	Balance        int64
	LifetimePoints int64
	Tier           string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (memberRow) TableName() string { return "loyalty_members" }

type ledgerRow struct {
	ID             string `gorm:"primaryKey"`
	WorkspaceID    string
	CustomerID     string
	Delta          int64
	Reason         string
	IdempotencyKey string
	BalanceAfter   int64
	TierBefore     string
	TierAfter      string
	CreatedAt      time.Time
}

func (ledgerRow) TableName() string { return "loyalty_ledger" }

func toMember(r memberRow) models.Member {
	return models.Member{WorkspaceID: r.WorkspaceID, CustomerID: r.CustomerID, Name: r.Name, Balance: r.Balance,
		LifetimePoints: r.LifetimePoints, Tier: r.Tier, CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt)}
}

func toLedger(r ledgerRow) models.LedgerEntry {
	return models.LedgerEntry{ID: r.ID, WorkspaceID: r.WorkspaceID, CustomerID: r.CustomerID, Delta: r.Delta, Reason: r.Reason,
		IdempotencyKey: r.IdempotencyKey, BalanceAfter: r.BalanceAfter, TierBefore: r.TierBefore, TierAfter: r.TierAfter,
		CreatedAt: utc(r.CreatedAt)}
}

func tiersOf(db *gorm.DB, workspaceID string) ([]models.Tier, error) {
	var rows []tierRow
	if err := db.Where("workspace_id = ?", workspaceID).Order("min_points").Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return models.DefaultTiers(), nil
	}
	out := make([]models.Tier, len(rows))
	for i, r := range rows {
		out[i] = models.Tier{Name: r.Name, MinPoints: r.MinPoints}
	}
	return out, nil
}

// GetTiers returns the workspace's tiers by threshold (the defaults if none are set).
func (s *Store) GetTiers(ctx context.Context, workspaceID string) ([]models.Tier, error) {
	t, err := tiersOf(s.db.WithContext(ctx), workspaceID)
	return t, translate(err, "tiers")
}

// SetTiers replaces the workspace's tiers; members move when their points next change.
func (s *Store) SetTiers(ctx context.Context, workspaceID string, tiers []models.Tier) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("workspace_id = ?", workspaceID).Delete(&tierRow{}).Error; err != nil {
			return err
		}
		for _, t := range tiers {
			if err := tx.Create(&tierRow{WorkspaceID: workspaceID, Name: t.Name, MinPoints: t.MinPoints}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return translate(err, "set tiers")
}

// GetMember returns a member of the workspace's programme.
func (s *Store) GetMember(ctx context.Context, workspaceID, customerID string) (*models.Member, error) {
	var r memberRow
	if err := s.db.WithContext(ctx).Where("workspace_id = ? AND customer_id = ?", workspaceID, customerID).Take(&r).Error; err != nil {
		return nil, translate(err, "member "+customerID)
	}
	m := toMember(r)
	return &m, nil
}

// Ledger pages through a member's entries, newest first.
func (s *Store) Ledger(ctx context.Context, workspaceID, customerID string, page models.Page) ([]models.LedgerEntry, string, error) {
	q := s.db.WithContext(ctx).Where("workspace_id = ? AND customer_id = ?", workspaceID, customerID)
	rows, next, err := keyset(q, page, true, func(r ledgerRow) string { return r.ID })
	if err != nil {
		return nil, "", translate(err, "ledger")
	}
	out := make([]models.LedgerEntry, 0, len(rows))
	for _, r := range rows {
		out = append(out, toLedger(r))
	}
	return out, next, nil
}

// errReplay ends the transaction of a change whose idempotency key was used before.
var errReplay = errors.New("idempotency key already used")

// ApplyPoints changes a member's points once per idempotency key: the ledger's unique
// key decides, so a retried step or request cannot award or spend twice. The same
// key again for the same customer and delta answers the first change (Applied
// false); for another customer or delta it is a *models.KeyReusedError. Points,
// lifetime total, tier and the ledger entry change in one transaction.
func (s *Store) ApplyPoints(ctx context.Context, workspaceID, customerID, name string, delta int64, reason, idempotencyKey string, at time.Time) (*models.PointsChange, error) {
	if customerID == "" || idempotencyKey == "" {
		return nil, fmt.Errorf("apply points: %w", models.Invalid("customer_id", "customer and idempotency key are required"))
	}
	var change models.PointsChange
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var prior ledgerRow
		err := tx.Where("workspace_id = ? AND idempotency_key = ?", workspaceID, idempotencyKey).Take(&prior).Error
		if err == nil {
			return errReplay
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		tiers, err := tiersOf(tx, workspaceID)
		if err != nil {
			return err
		}
		now := ts(at)
		fresh := memberRow{WorkspaceID: workspaceID, CustomerID: customerID, Name: name, Tier: models.TierFor(tiers, 0), CreatedAt: now, UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&fresh).Error; err != nil {
			return err
		}
		var m memberRow
		q := tx.Where("workspace_id = ? AND customer_id = ?", workspaceID, customerID)
		if s.dialect == Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Take(&m).Error; err != nil {
			return err
		}
		if delta < 0 && m.Balance+delta < 0 {
			return fmt.Errorf("%s has %d points, %d asked: %w", customerID, m.Balance, -delta, models.ErrInsufficientPoints)
		}
		before := m.Tier
		m.Balance += delta
		if delta > 0 {
			m.LifetimePoints += delta
		}
		m.Tier = models.TierFor(tiers, m.LifetimePoints)
		if name != "" {
			m.Name = name
		}
		m.UpdatedAt = now
		if err := tx.Model(&memberRow{}).Where("workspace_id = ? AND customer_id = ?", workspaceID, customerID).
			Updates(map[string]any{"balance": m.Balance, "lifetime_points": m.LifetimePoints, "tier": m.Tier, "name": m.Name, "updated_at": now}).Error; err != nil {
			return err
		}
		entry := ledgerRow{ID: ids.New(ids.Ledger), WorkspaceID: workspaceID, CustomerID: customerID, Delta: delta, Reason: reason,
			IdempotencyKey: idempotencyKey, BalanceAfter: m.Balance, TierBefore: before, TierAfter: m.Tier, CreatedAt: now}
		if err := tx.Create(&entry).Error; err != nil {
			return err
		}
		change = models.PointsChange{Member: toMember(m), Entry: toLedger(entry), PreviousTier: before, Applied: true}
		return nil
	})
	if errors.Is(err, errReplay) || isUniqueViolation(err) {
		// Someone applied this key first (maybe concurrently): answer with that result.
		var prior ledgerRow
		if err := s.db.WithContext(ctx).Where("workspace_id = ? AND idempotency_key = ?", workspaceID, idempotencyKey).Take(&prior).Error; err != nil {
			return nil, translate(err, "ledger entry")
		}
		if prior.CustomerID != customerID || prior.Delta != delta {
			return nil, &models.KeyReusedError{CustomerWas: prior.CustomerID, CustomerNow: customerID, DeltaWas: prior.Delta, DeltaNow: delta}
		}
		m, err := s.GetMember(ctx, workspaceID, prior.CustomerID)
		if err != nil {
			return nil, err
		}
		return &models.PointsChange{Member: *m, Entry: toLedger(prior), PreviousTier: prior.TierBefore, Applied: false}, nil
	}
	if errors.Is(err, models.ErrInsufficientPoints) {
		return nil, err
	}
	if err != nil {
		return nil, translate(err, "apply points")
	}
	return &change, nil
}
