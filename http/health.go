package http

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

type handlers struct {
	deps Deps
}

type statusResponse struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// healthz answers while the process runs.
func (h *handlers) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, statusResponse{Status: "ok"})
}

// readyz answers 200 while the database answers a ping within ReadyTimeout,
// and 503 otherwise, without the driver's words.
func (h *handlers) readyz(c echo.Context) error {
	if h.deps.DB == nil {
		return c.JSON(http.StatusServiceUnavailable, statusResponse{Status: "unavailable", Reason: "database"})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), ReadyTimeout)
	defer cancel()
	if err := h.deps.DB.Ping(ctx); err != nil {
		h.deps.Logger.Warn("not ready: database ping failed", "error", err)
		return c.JSON(http.StatusServiceUnavailable, statusResponse{Status: "unavailable", Reason: "database"})
	}
	return c.JSON(http.StatusOK, statusResponse{Status: "ready"})
}
