package bot

import "github.com/prometheus/client_golang/prometheus"

// Metrics returns the registry the bot's metrics go to (Options.Metrics,
// or the bot's own), for plugins and middleware to register theirs with
// beside the bot's; nil when Options.DisableMetrics turned them off.
func (b *Bot) Metrics() prometheus.Registerer { return b.registry }
