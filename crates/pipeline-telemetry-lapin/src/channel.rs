//! [`TracedChannel`]: a lapin channel with the broker's address, given
//! once, so that every span of it names the broker; and [`TracedConsumer`],
//! a consumer that knows the channel it came from (its prefetch).

use std::ops::Deref;

use lapin::options::BasicConsumeOptions;
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Consumer};

use crate::spans::ServerAddress;

/// A lapin [`Channel`] and the address of the broker it is connected to.
///
/// lapin does not expose the host and port a connection was opened to, so
/// the address is given once, where the channel is created, instead of at
/// every publish: [`publish_traced`](crate::TracedPublish::publish_traced)
/// on a `TracedChannel` puts `server.address` / `server.port` on its
/// PRODUCER span, and a [`Worker`](crate::Worker) consuming from
/// [`basic_consume`](Self::basic_consume) puts them on its CONSUMER spans
/// and handles as many deliveries at once as the channel's prefetch.
///
/// Everything else of lapin's [`Channel`] is reached through `Deref`
/// (`channel.queue_declare(..)`, `channel.basic_qos(..)`, ...).
///
/// ```no_run
/// use lapin::{options::*, BasicProperties, Connection, ConnectionProperties};
/// use pipeline_telemetry_lapin::{ServerAddress, TracedChannel, TracedPublish};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// let conn = Connection::connect(url, ConnectionProperties::default()).await?;
/// let server = ServerAddress::from_uri(url).ok_or("AMQP URL does not parse")?;
/// let channel = TracedChannel::new(conn.create_channel().await?, server);
/// // rabbitmq.send span with server.address=127.0.0.1, server.port=5672
/// channel
///     .publish_traced("", "batches", BasicPublishOptions::default(), b"[1]", BasicProperties::default())
///     .await?
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TracedChannel {
    channel: Channel,
    server: ServerAddress,
}

impl TracedChannel {
    /// `channel`, connected to the broker at `server`.
    pub fn new(channel: Channel, server: ServerAddress) -> Self {
        TracedChannel { channel, server }
    }

    /// The broker's address, as the spans name it.
    pub fn server(&self) -> &ServerAddress {
        &self.server
    }

    /// The lapin channel.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The lapin channel, unwrapped.
    pub fn into_inner(self) -> Channel {
        self.channel
    }

    /// The prefetch count the broker confirmed for this channel
    /// (`basic.qos`): the per-consumer count, else the channel-wide one;
    /// `None` when neither was set (or was set to 0, no limit).
    pub fn prefetch(&self) -> Option<u16> {
        prefetch_of(&self.channel)
    }

    /// lapin's [`Channel::basic_consume`], returning a consumer that
    /// remembers this channel: a [`Worker`](crate::Worker) consuming it
    /// handles up to the channel's prefetch at once and names the broker
    /// on its spans.
    ///
    /// # Errors
    /// lapin's, when the broker refuses the consumer or the channel is
    /// closed.
    pub async fn basic_consume(
        &self,
        queue: ShortString,
        consumer_tag: ShortString,
        options: BasicConsumeOptions,
        arguments: FieldTable,
    ) -> Result<TracedConsumer, lapin::Error> {
        let consumer = self
            .channel
            .basic_consume(queue, consumer_tag, options, arguments)
            .await?;
        Ok(TracedConsumer {
            consumer,
            channel: Some(self.clone()),
        })
    }
}

impl Deref for TracedChannel {
    type Target = Channel;

    fn deref(&self) -> &Channel {
        &self.channel
    }
}

/// The channel's confirmed prefetch, `None` when unset or unlimited.
pub(crate) fn prefetch_of(channel: &Channel) -> Option<u16> {
    let qos = channel.status().qos();
    qos.prefetch_count
        .filter(|n| *n > 0)
        .or(qos.global_prefetch_count.filter(|n| *n > 0))
}

/// A lapin [`Consumer`], with the [`TracedChannel`] it came from when it
/// was opened by [`TracedChannel::basic_consume`]. What
/// [`Worker::consume`](crate::Worker::consume) takes; a plain `Consumer`
/// converts into one (then the worker knows neither the prefetch nor the
/// broker's address unless told with
/// [`with_concurrency`](crate::Worker::with_concurrency) and
/// [`with_server`](crate::Worker::with_server)).
#[derive(Debug)]
pub struct TracedConsumer {
    pub(crate) consumer: Consumer,
    pub(crate) channel: Option<TracedChannel>,
}

impl TracedConsumer {
    /// The lapin consumer.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// The channel it was opened on, if known.
    pub fn channel(&self) -> Option<&TracedChannel> {
        self.channel.as_ref()
    }

    /// The lapin consumer, unwrapped.
    pub fn into_inner(self) -> Consumer {
        self.consumer
    }
}

impl From<Consumer> for TracedConsumer {
    fn from(consumer: Consumer) -> Self {
        TracedConsumer {
            consumer,
            channel: None,
        }
    }
}
