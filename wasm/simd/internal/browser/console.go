//go:build !js

package browser

import (
	"strings"

	"github.com/chromedp/cdproto/runtime"
)

func consoleText(ev any) string {
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range e.Args {
			if a.Value != nil {
				s := string(a.Value)
				if len(s) >= 2 && s[0] == '"' {
					s = strings.ReplaceAll(s[1:len(s)-1], `\n`, "\n")
				}
				parts = append(parts, s)
			} else {
				parts = append(parts, a.Description)
			}
		}
		return strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		if d.Exception != nil && d.Exception.Description != "" {
			return "exception: " + d.Exception.Description
		}
		return "exception: " + d.Text
	}
	return ""
}
