package pipeline

import (
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Page types the classifier tells apart (WCXB's seven kinds).
const (
	PageArticle       = "article"
	PageForum         = "forum"
	PageProduct       = "product"
	PageCollection    = "collection"
	PageListing       = "listing"
	PageDocumentation = "documentation"
	PageService       = "service"
)

// PageTypes lists every page type ClassifyPage returns.
var PageTypes = []string{PageArticle, PageForum, PageProduct, PageCollection, PageListing, PageDocumentation, PageService}

// URL patterns by page type. They describe how whole site families lay
// out their addresses (forum software, shop systems, documentation
// generators), not single sites.
var (
	forumURL = regexp.MustCompile(`(?i)(/forums?/|/threads?/|/topics?/|/t/[^/]+/\d+|/questions/\d+|showthread\.php|viewtopic\.php|/discussions?/|/community/|/comments/|/boards?/|^[a-z]+://(forums?|community|discuss|discussion|bbs)\.)`)
	docURL   = regexp.MustCompile(`(?i)(/docs?/|/documentation/|/manual/|/man-?pages?/|/reference/|/api/|/guides?/|/tutorials?/|/handbook/|/wiki/|/book/|/usersguide/|/learn/|^[a-z]+://(docs|developer|developers|wiki|man\d*)\.|readthedocs\.io|\.readthedocs\.)`)
	prodURL  = regexp.MustCompile(`(?i)(/products?/[^/]+|/p/[^/]+|/dp/|/ip/|/pdp/|/item/|/store/detail/|/shop/.+/.+|-p-\d+|/sku/)`)
	collURL  = regexp.MustCompile(`(?i)(/collections?/|/category/|/categories/|/cat/|/c/[^/]+$|/l/|/b/|/browse/|/shop/?$|/departments?/)`)
	listURL  = regexp.MustCompile(`(?i)(/tags?/|/topics?/[^/]+/?$|/hub/|/news/?$|/blog/?$|/search|/page/\d+|/archives?/|/chart/|/schedule|/events?/?$|/latest/?$)`)
	servURL  = regexp.MustCompile(`(?i)(/services?/|/solutions?/|/features?/|/pricing|/plans?/|/programs?/|/about(-us)?/?$|/contact(-us)?/?$|/tuition|/insurance|/rental|/coupons?|/platform|/enterprise|/for-)`)
	dateURL  = regexp.MustCompile(`/(19|20)\d\d/\d\d?/`)
	wordyURL = regexp.MustCompile(`[a-z0-9]+(-[a-z0-9]+){3,}`)
)

// pageSignals are the structural counts the classifier weighs.
type pageSignals struct {
	pre, code, articles, forms, priceish, cartish, postish, cardish, tocish, h2, paras, listItems, links, time int
}

// Class/id word parts the classifier counts (e.g. "post" in "post-body").
var (
	priceWords = []string{"price"}
	postWords  = []string{"message-body", "post-body", "postbody", "post-content", "post_message", "messagecontent", "message-content", "topic-body", "cooked", "post-message", "postcontent", "forum-post", "comment-body", "answercell", "js-post-body", "bbwrapper", "post_body"}
	cardWords  = []string{"product-card", "product-tile", "product-item", "productcard", "product_tile", "grid-item", "card", "tile"}
	tocWords   = []string{"toc", "table-of-contents", "sidebar-nav", "docs-nav", "sphinxsidebar", "menu-toc"}
)

// containsAny reports whether v contains one of words.
func containsAny(v string, words []string) bool {
	for _, w := range words {
		if strings.Contains(v, w) {
			return true
		}
	}
	return false
}

func collectSignals(root *html.Node) pageSignals {
	var s pageSignals
	walkDOM(root, func(n *html.Node) bool {
		if isUnrendered(n) {
			return false
		}
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Pre:
				s.pre++
			case atom.Code:
				s.code++
			case atom.Article:
				s.articles++
			case atom.Form:
				s.forms++
			case atom.P:
				s.paras++
			case atom.Li:
				s.listItems++
			case atom.A:
				s.links++
			case atom.H2:
				s.h2++
			case atom.Time:
				s.time++
			case atom.Button:
				if t := strings.ToLower(textContent(n)); strings.Contains(t, "add to cart") || strings.Contains(t, "add to bag") || strings.Contains(t, "add to basket") || strings.Contains(t, "buy now") {
					s.cartish++
				}
			}
			// The class and id, lower-cased once for the four counts.
			if v := strings.ToLower(attr(n, "class") + " " + attr(n, "id")); v != " " {
				if containsAny(v, priceWords) {
					s.priceish++
				}
				if containsAny(v, postWords) {
					s.postish++
				}
				if containsAny(v, cardWords) {
					s.cardish++
				}
				if containsAny(v, tocWords) {
					s.tocish++
				}
			}
		}
		return true
	})
	return s
}

// ClassifyPage tells the page's type from its JSON-LD @type, og:type, URL
// and DOM signals. It scores every type and returns the best; article is
// the default when nothing speaks for another type.
func ClassifyPage(root *html.Node, pageURL string, ld []map[string]any, og map[string]string) string {
	best, _ := classifyScores(root, pageURL, ld, og)
	return best
}

// classifyScores is ClassifyPage with every type's score.
func classifyScores(root *html.Node, pageURL string, ld []map[string]any, og map[string]string) (string, map[string]float64) {
	score := map[string]float64{PageArticle: 0.5}
	for _, obj := range ld {
		for _, t := range ldTypes(obj) {
			switch t {
			case "Product", "ProductGroup", "IndividualProduct", "SoftwareApplication", "Course", "Book", "Vehicle":
				score[PageProduct] += 2
			case "DiscussionForumPosting", "QAPage", "Question", "SocialMediaPosting", "Comment":
				score[PageForum] += 3
			case "NewsArticle", "Article", "BlogPosting", "Report", "ReportageNewsArticle", "OpinionNewsArticle", "Recipe", "HowTo":
				score[PageArticle] += 1.5
			case "TechArticle", "APIReference":
				score[PageDocumentation] += 2
			case "CollectionPage", "OfferCatalog":
				score[PageCollection] += 1
				score[PageListing] += 0.7
			case "ItemList":
				score[PageCollection] += 0.5
				score[PageListing] += 0.5
			case "SearchResultsPage":
				score[PageListing] += 1.5
			case "Service", "ProfessionalService", "LocalBusiness", "EducationalOccupationalProgram", "FAQPage":
				score[PageService] += 1.2
			}
		}
	}
	switch strings.ToLower(og["og:type"]) {
	case "product", "og:product", "product.item":
		score[PageProduct] += 1.5
	case "article":
		score[PageArticle] += 0.8
	}
	path := pageURL
	if u, err := url.Parse(pageURL); err == nil {
		path = strings.ToLower(u.Scheme + "://" + u.Host + u.EscapedPath())
		if u.RawQuery != "" {
			path += "?" + strings.ToLower(u.RawQuery)
		}
	}
	if forumURL.MatchString(path) {
		score[PageForum] += 1.5
	}
	if docURL.MatchString(path) {
		score[PageDocumentation] += 1.2
	}
	if prodURL.MatchString(path) {
		score[PageProduct] += 1.2
	}
	if collURL.MatchString(path) {
		score[PageCollection] += 1.2
	}
	if listURL.MatchString(path) {
		score[PageListing] += 1
	}
	if servURL.MatchString(path) {
		score[PageService] += 1
	}
	if dateURL.MatchString(path) {
		score[PageArticle] += 1
	}
	if u, err := url.Parse(pageURL); err == nil {
		last := u.Path
		if i := strings.LastIndex(strings.TrimSuffix(last, "/"), "/"); i >= 0 {
			last = strings.TrimSuffix(last, "/")[i+1:]
		}
		if wordyURL.MatchString(last) {
			score[PageArticle] += 0.6
		}
		if strings.Trim(u.Path, "/") == "" {
			score[PageListing] += 0.8
			score[PageService] += 0.6
		}
	}
	s := collectSignals(root)
	if s.postish >= 2 {
		score[PageForum] += 1 + min(1, float64(s.postish)/10)
	}
	if s.cartish > 0 {
		score[PageProduct] += 1
	}
	if s.priceish >= 12 {
		score[PageCollection] += 1
	} else if s.priceish >= 2 {
		score[PageProduct] += 0.4
	}
	if s.cardish >= 12 {
		score[PageCollection] += 0.4
		score[PageListing] += 0.5
	}
	if s.articles >= 6 {
		score[PageListing] += 1
	}
	if s.pre >= 2 || s.code >= 8 {
		score[PageDocumentation] += 0.8
	}
	if s.tocish > 0 {
		score[PageDocumentation] += 0.3
	}
	if s.paras >= 15 {
		score[PageArticle] += 0.5
	}
	best := PageArticle
	for _, t := range PageTypes {
		if score[t] > score[best] {
			best = t
		}
	}
	return best, score
}

// ldTypes lists every @type of a JSON-LD object.
func ldTypes(obj map[string]any) []string {
	switch t := obj["@type"].(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
