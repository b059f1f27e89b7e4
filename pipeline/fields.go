package pipeline

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/andybalholm/cascadia"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/swardnet/sward/schemas"
)

// Price is a "price" field's value.
type Price struct {
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency,omitempty"` // ISO 4217, "" when unknown
}

// CompiledField is a FieldSpec with its CSS selector parsed once.
type CompiledField struct {
	spec schemas.FieldSpec
	sel  cascadia.SelectorGroup
}

// CompileFields checks a job's field declarations and parses selectors.
func CompileFields(specs []schemas.FieldSpec) ([]CompiledField, error) {
	out := make([]CompiledField, 0, len(specs))
	for _, s := range specs {
		cf := CompiledField{spec: s}
		if s.Selector != "" {
			sel, err := cascadia.ParseGroup(s.Selector)
			if err != nil {
				return nil, fmt.Errorf("field %q: selector %q: %w", s.Name, s.Selector, err)
			}
			cf.sel = sel
		}
		out = append(out, cf)
	}
	return out, nil
}

// ExtractFields reads each declared field from the page: JSON-LD path
// first, then CSS selector; the raw value is normalised to the field's
// type. Fields not found or not parseable are absent from the map (null
// in the columns).
func ExtractFields(fields []CompiledField, ex *Extracted) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		var raw string
		var currency string
		if f.spec.JSONLD != "" {
			raw, currency = jsonLDValue(ex.JSONLD, f.spec.JSONLD)
		}
		if raw == "" && f.sel != nil && ex.Root != nil {
			if n := cascadia.Query(ex.Root, f.sel); n != nil {
				if f.spec.Attr != "" {
					raw = attr(n, f.spec.Attr)
				} else {
					raw = cleanLine(textContent(n))
				}
			}
		}
		if raw = strings.TrimSpace(raw); raw == "" {
			continue
		}
		if v, ok := normaliseField(f.spec.Type, raw, currency, ex); ok {
			out[f.spec.Name] = v
		}
	}
	return out
}

func normaliseField(typ, raw, currency string, ex *Extracted) (any, bool) {
	switch typ {
	case schemas.FieldString:
		return raw, true
	case schemas.FieldNumber:
		v, ok := ParseNumber(raw)
		return v, ok
	case schemas.FieldPrice:
		p, ok := ParsePrice(raw)
		if !ok {
			return nil, false
		}
		if p.Currency == "" {
			p.Currency = strings.ToUpper(currency)
		}
		return p, true
	case schemas.FieldDate:
		t, ok := parseDate(raw)
		return t, ok
	case schemas.FieldURL:
		u := absURL(ex.Base, raw)
		return u, u != ""
	}
	return nil, false
}

// jsonLDValue follows a dotted path ("Type.key.key") through the page's
// JSON-LD objects; arrays yield their first element. For a path ending in
// "price" it also returns a sibling "priceCurrency".
func jsonLDValue(objs []map[string]any, path string) (string, string) {
	parts := strings.Split(path, ".")
	if len(parts) < 2 {
		return "", ""
	}
	for _, obj := range objs {
		if parts[0] != "*" && !strings.EqualFold(ldType(obj), parts[0]) {
			continue
		}
		var cur any = obj
		var parent map[string]any
		for _, p := range parts[1:] {
			if arr, ok := cur.([]any); ok && len(arr) > 0 {
				cur = arr[0]
			}
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			parent, cur = m, m[p]
		}
		if arr, ok := cur.([]any); ok && len(arr) > 0 {
			cur = arr[0]
		}
		var s string
		switch v := cur.(type) {
		case string:
			s = v
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		case map[string]any:
			s = ldString(v, "@id")
			if s == "" {
				s = ldString(v, "name")
			}
		}
		if s == "" {
			continue
		}
		currency := ""
		if parent != nil {
			currency = ldString(parent, "priceCurrency")
		}
		return s, currency
	}
	return "", ""
}

// ParseNumber reads a number written with either decimal convention
// ("1,234.50", "1.234,50", "12 500") and an optional sign.
func ParseNumber(s string) (float64, bool) {
	var b strings.Builder
	started := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			started = true
		case r == '.' || r == ',':
			if started {
				b.WriteRune(r)
			}
		case r == '-' || r == '−':
			if !started && b.Len() == 0 {
				b.WriteByte('-')
			}
		case r == ' ' || r == '\u00a0' || r == '\u202f' || r == '\'':
			// thousands separators
		default:
			if started {
				goto done
			}
		}
	}
done:
	t := strings.TrimRight(b.String(), ".,")
	if t == "" || t == "-" {
		return 0, false
	}
	lastDot, lastComma := strings.LastIndexByte(t, '.'), strings.LastIndexByte(t, ',')
	switch {
	case lastDot >= 0 && lastComma >= 0:
		if lastComma > lastDot { // 1.234,50
			t = strings.ReplaceAll(t, ".", "")
			t = strings.Replace(t, ",", ".", 1)
		} else {
			t = strings.ReplaceAll(t, ",", "")
		}
	case lastComma >= 0:
		if strings.Count(t, ",") == 1 && len(t)-lastComma-1 != 3 { // 12,5 or 12,50
			t = strings.Replace(t, ",", ".", 1)
		} else {
			t = strings.ReplaceAll(t, ",", "")
		}
	case strings.Count(t, ".") > 1:
		t = strings.ReplaceAll(t, ".", "")
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

var currencySymbols = []struct{ sym, code string }{
	{"US$", "USD"}, {"C$", "CAD"}, {"A$", "AUD"}, {"R$", "BRL"}, {"€", "EUR"}, {"£", "GBP"},
	{"¥", "JPY"}, {"₹", "INR"}, {"₩", "KRW"}, {"₽", "RUB"}, {"₺", "TRY"}, {"zł", "PLN"}, {"kr", "SEK"}, {"$", "USD"},
}

// ParsePrice reads an amount and its currency from text like "€1.299,00",
// "USD 15.99" or "$20".
func ParsePrice(s string) (Price, bool) {
	amount, ok := ParseNumber(s)
	if !ok {
		return Price{}, false
	}
	p := Price{Amount: amount}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return !(r >= 'A' && r <= 'Z') }) {
		if len(f) == 3 {
			p.Currency = f
			return p, true
		}
	}
	for _, c := range currencySymbols {
		if strings.Contains(s, c.sym) {
			p.Currency = c.code
			break
		}
	}
	return p, true
}

// priceType is the Arrow type of a price column.
var priceType = arrow.StructOf(
	arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	arrow.Field{Name: "currency", Type: arrow.BinaryTypes.String, Nullable: true},
)

func fieldArrowType(typ string) arrow.DataType {
	switch typ {
	case schemas.FieldNumber:
		return arrow.PrimitiveTypes.Float64
	case schemas.FieldPrice:
		return priceType
	case schemas.FieldDate:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	default:
		return arrow.BinaryTypes.String
	}
}

// FieldsSchema is the Arrow schema of a job's structured fields: one
// nullable column per declared field, typed by its normaliser.
func FieldsSchema(specs []schemas.FieldSpec) *arrow.Schema {
	fs := make([]arrow.Field, len(specs))
	for i, s := range specs {
		fs[i] = arrow.Field{Name: s.Name, Type: fieldArrowType(s.Type), Nullable: true}
	}
	return arrow.NewSchema(fs, nil)
}

// FieldsToRecord builds a record of rows[i] (Result.Fields) in
// FieldsSchema(specs), null where a row lacks a field. The caller
// releases the result.
func FieldsToRecord(mem memory.Allocator, specs []schemas.FieldSpec, rows []map[string]any) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, FieldsSchema(specs))
	defer b.Release()
	for _, row := range rows {
		for j, s := range specs {
			appendField(b.Field(j), s.Type, row[s.Name])
		}
	}
	return b.NewRecordBatch()
}

func appendField(b array.Builder, typ string, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch typ {
	case schemas.FieldNumber:
		if f, ok := v.(float64); ok {
			b.(*array.Float64Builder).Append(f)
			return
		}
	case schemas.FieldPrice:
		if p, ok := v.(Price); ok {
			sb := b.(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Float64Builder).Append(p.Amount)
			cb := sb.FieldBuilder(1).(*array.StringBuilder)
			if p.Currency == "" {
				cb.AppendNull()
			} else {
				cb.Append(p.Currency)
			}
			return
		}
	case schemas.FieldDate:
		if t, ok := v.(time.Time); ok {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
			return
		}
	default:
		if s, ok := v.(string); ok {
			b.(*array.StringBuilder).Append(s)
			return
		}
	}
	b.AppendNull()
}
