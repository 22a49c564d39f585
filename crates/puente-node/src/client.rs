//! Dialling a node over mutual TLS. The generic part (channels that check the server is
//! a node of the expected country, status rendering) lives in [`puente_client`] and is
//! re-exported here, so that nodes, the CLI and tests share one implementation; what is
//! the node's own is the `Exchange` client with the contract's message sizes.

use puente_proto::v1::exchange_client::ExchangeClient;
use tonic::transport::Channel;

pub use puente_client::channel::{channel_with_config, node_channel, NodeChannel, SeenServer};
pub use puente_client::status::{error_chain, status_text};

/// An `Exchange` client on `channel` that sends and accepts no more than the contract's
/// message sizes ([`crate::limits`]).
pub fn exchange_client(channel: Channel) -> ExchangeClient<Channel> {
    ExchangeClient::new(channel)
        .max_encoding_message_size(crate::limits::EXCHANGE_MAX_REQUEST)
        .max_decoding_message_size(crate::limits::EXCHANGE_MAX_RESPONSE)
}
