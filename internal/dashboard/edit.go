package dashboard

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
)

// Editing in place (issue 18): the pieces the edit forms share. An
// object's attributes are edited as rows of a name and a value, and a
// delete first shows what goes with it and asks once (confirm.html).

// ---- attributes as rows of a name and a value

// maxAttrRows bounds the attribute rows a form may post. A form with more
// is refused (attributes), never cut short: the save replaces the
// attributes, and rows left unread would be deleted.
const maxAttrRows = 1000

// attrRowsOf is the number of rows a form says it posted (attr_rows):
// maxAttrRows+1 for any number past the bound, which attributes refuses.
func attrRowsOf(r *http.Request) int {
	n, err := strconv.Atoi(r.FormValue("attr_rows"))
	if err != nil || n < 0 {
		return 0
	}
	return min(n, maxAttrRows+1)
}

// attrNames are the form fields of n attribute rows.
func attrNames(n int) []string {
	var names []string
	for i := range n {
		names = append(names, "attr_key_"+itoa(i), "attr_val_"+itoa(i))
	}
	return names
}

// attributes reads attribute rows 0..n-1 of f: an empty row is skipped; a
// value without a name, or a name given twice, fails the form beside it.
// A value is JSON when it reads as JSON other than text (a number, true,
// false, null, a list or an object), else the text as typed; "3" in quotes
// is the text 3.
func attributes(f *form, n int) map[string]any {
	out := map[string]any{}
	if n > maxAttrRows {
		f.fail("attributes", "More than "+itoa(maxAttrRows)+" attributes: the form cannot hold them all; change them through the API (PATCH with attributes).")
		return out
	}
	for i := range n {
		k, v := f.Val("attr_key_"+itoa(i)), f.Val("attr_val_"+itoa(i))
		switch {
		case k == "" && v == "":
			continue
		case k == "":
			f.fail("attr_key_"+itoa(i), "Name the attribute, or empty its value to drop the row.")
			continue
		}
		if _, dup := out[k]; dup {
			f.fail("attr_key_"+itoa(i), "“"+k+"” is named twice: give each attribute once.")
			continue
		}
		out[k] = attrValue(v)
	}
	return out
}

// attrValue is a typed value: JSON when it reads as JSON, else text.
func attrValue(s string) any {
	var v any
	if s == "" || json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	return v
}

// attrText is how a value is written in its field: text as it is (in
// quotes when it would read as something else), anything else as JSON.
func attrText(v any) string {
	if s, ok := v.(string); ok {
		if _, isText := attrValue(s).(string); isText {
			return s
		}
		b, _ := json.Marshal(s)
		return string(b)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// fillAttrs writes attrs into f's rows, by name, and returns how many rows
// the form shows: one per attribute and two blank ones.
func fillAttrs(f *form, attrs map[string]any) int {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		f.Values["attr_key_"+itoa(i)], f.Values["attr_val_"+itoa(i)] = k, attrText(attrs[k])
	}
	return len(keys) + 2
}

// rowNumbers are "0".."n-1", for a template's range.
func rowNumbers(n int) []string {
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, itoa(i))
	}
	return out
}

// emptyForm is a form with no values yet.
func emptyForm() *form { return &form{Values: map[string]string{}, Errors: map[string]string{}} }

// ---- delete: what goes with it, asked once

// confirmData is a delete's confirmation page: what is deleted, what goes
// with it, and the form that does it.
type confirmData struct {
	// What names the thing ("user ada"); Action is the form's address and
	// Back where Cancel leads.
	What, Action, Back, Button string
	// Items are what goes with it; Unknown says what could not be counted.
	Items   []cascadeItem
	Unknown []string
	// Note is said before the button (e.g. what cannot be undone).
	Note string
	// Hidden are the form's fields; Cascade sends cascade=1 (the things
	// listed are removed with it).
	Hidden  map[string]string
	Cascade bool
}

// cascadeItem is one kind of thing a delete takes with it.
type cascadeItem struct {
	Count int
	// AtLeast: Count is a lower bound (the page stopped counting).
	AtLeast bool
	// Text follows the count ("role assignments in tenants"), One when it
	// is 1 ("role assignment in a tenant"); Names are some of them; Link
	// lists them all.
	Text, One string
	Names     []string
	Link      string
}

// add appends an item when it counts something.
func (d *confirmData) add(it cascadeItem) {
	if it.Count > 0 {
		d.Items = append(d.Items, it)
	}
}

// Total is how many things go with it.
func (d *confirmData) Total() int {
	n := 0
	for _, it := range d.Items {
		n += it.Count
	}
	return n
}

// Says is the item's text for its count.
func (it cascadeItem) Says() string {
	if it.Count == 1 && !it.AtLeast && it.One != "" {
		return it.One
	}
	return it.Text
}

// maxNames bounds the names an item shows.
const maxNames = 8

func someNames(names []string) []string {
	if len(names) > maxNames {
		return append(slices.Clone(names[:maxNames]), "…")
	}
	return names
}

// confirm draws a delete's confirmation page.
func (x *dash) confirm(w http.ResponseWriter, r *http.Request, section string, d *confirmData, errMsg string) {
	if d.Button == "" {
		d.Button = "Delete " + d.What
	}
	st := http.StatusOK
	if errMsg != "" {
		st = http.StatusConflict
	}
	x.render(w, r, st, "confirm", &page{Title: "Delete " + d.What + "?", Section: section, Error: errMsg, Data: d})
}
