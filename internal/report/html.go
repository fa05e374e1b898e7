package report

import (
	"html/template"
	"io"
)

// HTML writes the report as one self-contained HTML5 document: inline CSS, no scripts, no external
// assets, every value from the log escaped by html/template.
func (r *Report) HTML(w io.Writer) error { return htmlPage.Execute(w, r.document()) }

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"clean": clean,
	"numeric": func(t *table, i int) bool {
		return i < len(t.Numeric) && t.Numeric[i]
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; margin: 0; }
main { max-width: 1200px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #d0d7de; } h3 { margin-top: 1.4rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: .85em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.alert { border: 3px solid #cf222e; background: #ffebe9; color: #82071e; padding: .2rem 1rem; margin: 1rem 0; }
.alert p:first-child { font-weight: 700; font-size: 1.15rem; }
nav ol { columns: 2; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{- if .Alert}}
<div class="alert" role="alert">
{{- range .Alert}}
<p>{{template "para" .}}</p>
{{- end}}
</div>
{{- end}}
{{- range .Intro}}
<p>{{template "para" .}}</p>
{{- end}}
<nav>
<ol>
{{- range .Sections}}{{if eq .Level 2}}
<li><a href="#{{.ID}}">{{.Title}}</a></li>
{{- end}}{{end}}
</ol>
</nav>
{{- range .Sections}}
{{if eq .Level 2}}<h2 id="{{.ID}}">{{.Title}}</h2>{{else}}<h3 id="{{.ID}}">{{.Title}}</h3>{{end}}
{{- range .Paras}}
<p>{{template "para" .}}</p>
{{- end}}
{{- with .Table}}{{$t := .}}
<table>
<thead>
<tr>{{range $i, $h := .Head}}<th{{if numeric $t $i}} class="num"{{end}}>{{$h}}</th>{{end}}</tr>
</thead>
<tbody>
{{- range .Rows}}
<tr>{{range $i, $c := .}}<td{{if numeric $t $i}} class="num"{{end}}>{{template "para" $c}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
{{- end}}
{{- range .Notes}}
<p>{{template "para" .}}</p>
{{- end}}
{{- if .List}}
<ul>
{{- range .List}}
<li>{{template "para" .}}</li>
{{- end}}
</ul>
{{- end}}
{{- end}}
</main>
</body>
</html>
{{define "para"}}{{range .}}{{if .Code}}<code>{{clean .Text}}</code>{{else}}{{clean .Text}}{{end}}{{end}}{{end}}`))
