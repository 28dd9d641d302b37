package http

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/projections"
)

type statusResponse struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// HeldBackSeconds and Holder say, with reason readers_held_back, how
	// long and by which session the event log's readers are held back.
	HeldBackSeconds float64 `json:"held_back_seconds,omitempty"`
	Holder          string  `json:"holder,omitempty"`
	// Parked counts the events the projections parked, when there are
	// any: the read models stay ready, but their streams are stale.
	Parked int64 `json:"parked,omitempty"`
}

// healthz answers while the process runs.
func (s *server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, statusResponse{Status: "ok"})
}

// readyz answers 200 while the database answers a ping within ReadyTimeout,
// no transaction has held the event log's readers back for longer than the
// server's maximum lag, and no projection lags more than that; 503 with
// the reason otherwise, without the driver's words. Parked events leave it
// ready, and it counts them.
func (s *server) readyz(c echo.Context) error {
	unavailable := func(reason string) error {
		return c.JSON(http.StatusServiceUnavailable, statusResponse{Status: "unavailable", Reason: reason})
	}
	if s.db == nil {
		return unavailable("database")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), ReadyTimeout)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.logger.Warn("not ready: database ping failed", "error", err)
		return unavailable("database")
	}
	if s.readers != nil {
		age, holder, err := s.readers(ctx)
		if err != nil {
			s.logger.Warn("not ready: transaction horizon unknown", "error", err)
			return unavailable("database")
		}
		if age > s.maxLag {
			s.logger.Warn("not ready: a transaction holds the event log's readers back", "held_back_seconds", age.Seconds(), "holder", holder)
			return c.JSON(http.StatusServiceUnavailable, statusResponse{Status: "unavailable", Reason: "readers_held_back",
				HeldBackSeconds: age.Round(time.Millisecond).Seconds(), Holder: holder})
		}
	}
	var parked int64
	if s.pool != nil {
		statuses, err := projections.Status(ctx, s.pool)
		if err != nil {
			s.logger.Warn("not ready: projection status failed", "error", err)
			return unavailable("database")
		}
		for _, st := range statuses {
			if lag := time.Duration(st.LagSeconds * float64(time.Second)); lag > s.maxLag {
				s.logger.Warn("not ready: projection lags", "projection", st.Name, "lag_seconds", st.LagSeconds)
				return unavailable("projections")
			}
			parked += st.Parked
		}
	}
	return c.JSON(http.StatusOK, statusResponse{Status: "ready", Parked: parked})
}
