// Command nnst is Neural Neighbor Style Transfer on the CPU: stylize images,
// convert models, serve the web app and run benchmarks.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usage = `nnst: Neural Neighbor Style Transfer (NNST-Opt) on the CPU.

Usage:
  nnst stylize --content C --style S --output O [options]   paint C in the style of S
  nnst score --content C --style S --output O [--json]       score a stylized image
  nnst convert --src SRC --out FILE [--arch vgg16|vgg19]     build a model file
  nnst bench [--sizes 256,512] [--steps N]                   time convolutions and stylizations
  nnst dist [--src build/site] [--out dist]                  bundle the web app for static hosting
  nnst serve [--addr 127.0.0.1:8080] [--dir dist]            serve the bundle locally
  nnst help [command]                                        show help

Run "nnst help stylize" (or any command) for its options.
`

type command struct {
	name  string
	run   func(args []string) error
	flags func() *flag.FlagSet
}

var commands = []command{
	{"stylize", runStylize, stylizeFlags},
	{"score", runScore, scoreFlags},
	{"convert", runConvert, convertFlags},
	{"bench", runBench, benchFlags},
	{"serve", runServe, serveFlags},
	{"dist", runDist, distFlags},
}

// parseArgs parses a command's flags (errors on stderr) and refuses
// positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// required refuses empty required flags.
func required(cmd string, flags ...[2]string) error {
	for _, f := range flags {
		if f[1] == "" {
			return usageError{f[0] + " is required (see nnst help " + cmd + ")"}
		}
	}
	return nil
}

// usageError is an error in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(mainExit(os.Args[1:]))
}

func mainExit(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			for _, c := range commands {
				if c.name == args[1] {
					fs := c.flags()
					fs.SetOutput(os.Stdout)
					fs.Usage()
					return 0
				}
			}
		}
		fmt.Print(usage)
		return 0
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errInterrupted):
			fmt.Fprintln(os.Stderr, "nnst: interrupted; no output written")
			return 130
		}
		fmt.Fprintf(os.Stderr, "nnst %s: %v\n", name, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "nnst: unknown command %q\n\n%s", name, usage)
	return 2
}
