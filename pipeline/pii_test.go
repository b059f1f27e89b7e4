package pipeline

import "testing"

// TestRedactPIIContext covers the over- and under-redaction found on real
// pages: dates, times, ISBNs, digit runs inside URLs and decimals stay;
// French and other international numbers, and numbers on their own line
// (after a <br>), go.
func TestRedactPIIContext(t *testing.T) {
	tests := []struct {
		name, in, want string
		n              PIICounts
	}{
		{"datetime", "Posted 2006-02-28 01:39:09 by admin", "Posted 2006-02-28 01:39:09 by admin", PIICounts{}},
		{"date range", "From 2006-02-28 to 2007-03-01 12:00", "From 2006-02-28 to 2007-03-01 12:00", PIICounts{}},
		{"isbn13", "ISBN 978-0-306-40615-7 (paperback)", "ISBN 978-0-306-40615-7 (paperback)", PIICounts{}},
		{"isbn10", "ISBN: 0 306 40615 2", "ISBN: 0 306 40615 2", PIICounts{}},
		{"url digits", "See https://example.com/item/4111111111111111/view and /p/0140649599", "See https://example.com/item/4111111111111111/view and /p/0140649599", PIICounts{}},
		{"decimal", "pi is 3.14159265358979323846 roughly", "pi is 3.14159265358979323846 roughly", PIICounts{}},
		{"decimal card-like", "ratio 3.4111111111111111 here", "ratio 3.4111111111111111 here", PIICounts{}},
		{"french intl", "Tél. : +33 1 40 64 95 99", "Tél. : [PHONE]", PIICounts{Phone: 1}},
		{"french national", "Appelez le 01 40 64 95 99 demain", "Appelez le [PHONE] demain", PIICounts{Phone: 1}},
		{"german intl", "Telefon +49 30 901820", "Telefon [PHONE]", PIICounts{Phone: 1}},
		{"after br", "Contact\n+33 1 40 64 95 99\nParis", "Contact\n[PHONE]\nParis", PIICounts{Phone: 1}},
		{"uk", "Call +44 20 7946 0958 now", "Call [PHONE] now", PIICounts{Phone: 1}},
		{"card", "Card 4111 1111 1111 1111 ok", "Card [CARD] ok", PIICounts{Card: 1}},
		{"not luhn", "Order 4111 1111 1111 1112 ok", "Order 4111 1111 1111 1112 ok", PIICounts{}},
		{"year list", "Seasons 2019 2020 2021 2022", "Seasons 2019 2020 2021 2022", PIICounts{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := RedactPII(tt.in)
			if got != tt.want || n != tt.n {
				t.Errorf("RedactPII(%q) = %q %+v, want %q %+v", tt.in, got, n, tt.want, tt.n)
			}
		})
	}
}
