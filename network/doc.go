// Package network is sward's libp2p layer: the host and its persistent
// Ed25519 identity, gossipsub topics with validators that drop bad messages
// before the application sees them, the lease stream protocol between nodes
// and coordinators, presence announcements, and peer discovery (bootstrap
// addresses, mDNS on a LAN, and an optional private Kademlia DHT).
//
// Everything that arrives from the network is untrusted. Captures are
// checked once, in the gossipsub topic validator: size, shape, the node's
// signature, that the node which signed the capture is the gossip message's
// author, that it is not a replay, and that the author is not quarantined.
// Messages that fail count against the sender's peer score, so a peer that
// keeps sending garbage is graylisted and then ignored.
//
// The wire formats are described in docs/network.md.
package network
