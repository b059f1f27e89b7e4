package main

import (
	_ "github.com/abadojack/whatlanggo"
	_ "github.com/apache/arrow-go/v18/parquet/pqarrow"
	_ "github.com/blevesearch/bleve/v2"
	_ "github.com/chromedp/chromedp"
	_ "github.com/gocolly/colly/v2"
	_ "github.com/ipfs/boxo/bitswap"
	_ "github.com/ipfs/boxo/blockstore"
	_ "github.com/ipfs/boxo/gateway"
	_ "github.com/ipfs/boxo/ipld/unixfs/importer"
	_ "github.com/ipfs/go-ds-pebble"
	_ "github.com/ipld/go-car/v2"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p-pubsub"
	_ "github.com/markusmobius/go-trafilatura"
	_ "github.com/modelcontextprotocol/go-sdk/mcp"
	_ "github.com/nlnwa/gowarc/v3"
	_ "github.com/spf13/cobra"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)

func main() {}
