package friends

// OptionsOf returns the Options p runs with, its defaults filled in, for
// the tests of the documented defaults.
func OptionsOf(p *Plugin) Options { return p.opts }
