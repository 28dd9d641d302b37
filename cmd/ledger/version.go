package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, source revision and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout(), readBuild())
		},
	}
}

// build describes the running binary.
type build struct {
	version, revision, time, goVersion string
	modified                           bool
}

func readBuild() build {
	b := build{version: "(unknown)", goVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if info.Main.Version != "" {
		b.version = info.Main.Version
	}
	b.goVersion = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

func printVersion(w io.Writer, b build) error {
	text := fmt.Sprintf("ledger %s\n", b.version)
	if b.revision != "" {
		modified := ""
		if b.modified {
			modified = " (modified)"
		}
		text += fmt.Sprintf("revision: %s%s\n", b.revision, modified)
	}
	if b.time != "" {
		text += fmt.Sprintf("commit time: %s\n", b.time)
	}
	text += fmt.Sprintf("go: %s\n", b.goVersion)
	_, err := io.WriteString(w, text)
	return err
}
