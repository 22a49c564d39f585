//! `Exchange.PullStatistics`, as the responder: one page of own cells changed since the
//! caller's watermark, disclosed as its agreement allows, through the audited-exchange
//! guard like every answer.

use puente_pki::PeerIdentity;
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use puente_stats::Policy;
use tracing::info;

use super::{internal, DEFAULT_PAGE, MAX_PAGE, MAX_WATERMARK};
use crate::answer::audit::digest_of;
use crate::answer::authorize::context;
use crate::error::ExchangeError;
use crate::state::NodeState;

impl NodeState {
    /// `Exchange.PullStatistics`: one page of own cells changed since the caller's
    /// watermark, disclosed as its agreement allows. Audited before it leaves.
    pub async fn pull_statistics(
        &self,
        who: &PeerIdentity,
        req: &pb::PullStatisticsRequest,
    ) -> Result<pb::PullStatisticsResponse, ExchangeError> {
        let mut audited = self.audited(who, Service::FlowCounts, Purpose::Unspecified, req, None);
        let o = &mut audited.outcome;
        let answer = async {
            let ctx = context(req.context.as_ref())?;
            o.purpose = ctx.purpose as i32;
            o.case_reference = ctx.case_reference.clone();
            let permit = self
                .authorize(who, Service::FlowCounts, ctx.purpose, None)
                .await?;
            o.agreement_id = permit.agreement_id.clone();
            if req.since_watermark.len() > MAX_WATERMARK {
                return Err(ExchangeError::invalid_argument(format!(
                    "request.watermark: longer than {MAX_WATERMARK} bytes"
                )));
            }
            let since = self
                .stats
                .watermarks
                .check(who.country.as_str(), &req.since_watermark)
                .map_err(|e| ExchangeError::invalid_argument(format!("request.watermark: {e}")))?;
            let page = match req.page_size {
                0 => DEFAULT_PAGE,
                n => n.min(MAX_PAGE),
            } as usize;
            let store = self.stats.store.clone();
            let asker = who.country;
            // The cells as the asker sees them: without the persons protected against
            // it, before suppression decides anything (principle 4).
            let (cells, has_more) =
                tokio::task::spawn_blocking(move || store.changes_for(asker.as_str(), since, page))
                    .await
                    .map_err(internal)?
                    .map_err(internal)?;
            let policy = Policy {
                threshold: permit.small_cell_threshold,
                secondary: permit.secondary_suppression,
            };
            let own = self.node.country();
            let next = cells.last().map(|(_, c)| c.version).unwrap_or(0).max(since);
            let cells = cells
                .iter()
                .map(|(k, c)| {
                    k.to_proto(
                        own.as_str(),
                        puente_stats::disclose(&k.period, c, policy),
                        c.version,
                    )
                })
                .collect::<Vec<_>>();
            Ok(pb::PullStatisticsResponse {
                cells,
                next_watermark: self.stats.watermarks.issue(who.country.as_str(), next),
                has_more,
                agreement_id: permit.agreement_id,
                small_cell_threshold: permit.small_cell_threshold,
                receipt: None,
            })
        }
        .await;
        let (mut resp, receipt) = audited.close(answer, digest_of).await?;
        info!(peer = %who.country, cells = resp.cells.len(), more = resp.has_more, "statistics page served");
        resp.receipt = Some(receipt);
        Ok(resp)
    }
}
