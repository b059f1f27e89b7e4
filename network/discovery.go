package network

import (
	"context"
	"errors"
	"fmt"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	"github.com/swardnet/sward/internal/logkey"
)

// Discovery names. The mDNS service name and the DHT protocol prefix keep
// sward peers among themselves: they neither answer nor join other
// applications' discovery.
const (
	mdnsServiceName = "_sward._udp"
	dhtPrefix       = DHTPrefix
	rendezvous      = "sward/peers/1"
)

// DHTPrefix is the protocol prefix of sward's private Kademlia DHT; a
// process that joins the DHT without a network.Host (a dataset pull) uses
// it to find the same peers and provider records.
const DHTPrefix = "/sward"

// Routing returns the host's DHT for content routing (provider records of
// datasets), or nil when the host runs without the DHT.
func (h *Host) Routing() routing.Routing {
	if h.disc == nil || h.disc.dht == nil {
		return nil
	}
	return h.disc.dht
}

// discovery owns the optional mDNS service and DHT.
type discovery struct {
	mdns mdns.Service
	dht  *dht.IpfsDHT
}

func (d *discovery) close() error {
	var errs []error
	if d.mdns != nil {
		errs = append(errs, d.mdns.Close())
	}
	if d.dht != nil {
		errs = append(errs, d.dht.Close())
	}
	return errors.Join(errs...)
}

// startDiscovery starts whatever discovery the config asks for; peers
// found are dialled by one connector goroutine, so a burst of
// announcements cannot start unbounded dials.
func (h *Host) startDiscovery() error {
	h.disc = &discovery{}
	if !h.cfg.MDNS && !h.cfg.DHT {
		return nil
	}
	found := make(chan peer.AddrInfo, 64)
	h.spawn(func() { h.connectFound(found) })
	if h.cfg.MDNS {
		svc := mdns.NewMdnsService(h.host, mdnsServiceName, &mdnsNotifee{self: h.ID(), found: found, ctx: h.ctx})
		if err := svc.Start(); err != nil {
			return fmt.Errorf("starting mDNS discovery: %w", err)
		}
		h.disc.mdns = svc
	}
	if h.cfg.DHT {
		kad, err := dht.New(h.host,
			dht.Mode(dht.ModeAutoServer),
			dht.ProtocolPrefix(dhtPrefix),
			dht.BootstrapPeers(h.bootstrap...),
		)
		if err != nil {
			return fmt.Errorf("starting DHT: %w", err)
		}
		h.disc.dht = kad
		h.spawn(func() { h.dhtLoop(kad, found) })
	}
	return nil
}

// mdnsNotifee hands peers found by mDNS to the connector. It never blocks
// the mDNS service: when the connector is busy the peer is dropped and will
// be announced again.
type mdnsNotifee struct {
	self  peer.ID
	found chan<- peer.AddrInfo
	ctx   context.Context
}

// HandlePeerFound implements mdns.Notifee.
func (n *mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == n.self || ai.ID == "" || len(ai.Addrs) == 0 {
		return
	}
	select {
	case n.found <- ai:
	case <-n.ctx.Done():
	default:
	}
}

// connectFound dials discovered peers that are not connected yet.
func (h *Host) connectFound(found <-chan peer.AddrInfo) {
	for {
		select {
		case <-h.ctx.Done():
			return
		case ai := <-found:
			if ai.ID == h.ID() || h.host.Network().Connectedness(ai.ID) == network.Connected || h.IsQuarantined(ai.ID) {
				continue
			}
			ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
			err := h.host.Connect(ctx, ai)
			cancel()
			if err != nil {
				h.log.Debug("discovered peer unreachable", logPeer, ai.ID.String(), logkey.Err, err)
				continue
			}
			h.log.Info("connected to discovered peer", logPeer, ai.ID.String())
		}
	}
}

// dhtLoop advertises this host under sward's rendezvous key and looks for
// other sward peers every DiscoveryInterval.
func (h *Host) dhtLoop(kad *dht.IpfsDHT, found chan<- peer.AddrInfo) {
	rd := drouting.NewRoutingDiscovery(kad)
	var readvertise time.Time
	t := time.NewTicker(h.cfg.DiscoveryInterval)
	defer t.Stop()
	for {
		// The routing table fills as bootstrap connections come up; until
		// then there is no one to advertise to.
		if kad.RoutingTable().Size() > 0 {
			if time.Now().After(readvertise) {
				ttl, err := rd.Advertise(h.ctx, rendezvous)
				if err != nil {
					h.log.Debug("DHT advertise failed", logkey.Err, err)
				} else {
					readvertise = time.Now().Add(ttl / 2)
				}
			}
			h.findPeers(rd, found)
		}
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *Host) findPeers(rd *drouting.RoutingDiscovery, found chan<- peer.AddrInfo) {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.DiscoveryInterval)
	defer cancel()
	ch, err := rd.FindPeers(ctx, rendezvous)
	if err != nil {
		h.log.Debug("DHT peer search failed", logkey.Err, err)
		return
	}
	for ai := range ch {
		if ai.ID == h.ID() || len(ai.Addrs) == 0 {
			continue
		}
		select {
		case found <- ai:
		case <-ctx.Done():
		}
	}
}
