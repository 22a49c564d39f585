//! Answering passport-copy requests (`Exchange.GetDocument`) from peers: a reference
//! handed out with a full match, resolved for the same country and agreement, the
//! person screened again, the header disclosing only granted fields. Every way of
//! getting no copy looks the same to the asker.

use puente_pki::PeerIdentity;
use puente_policy::{Field, Purpose, Service};
use puente_proto::v1 as pb;

use super::query::{internal, protection_verdict};
use crate::convert;
use crate::error::ExchangeError;
use crate::outcome::{sha256, Outcome};
use crate::state::NodeState;
impl NodeState {
    /// Resolves a `GetDocument` request to the header, the image and the receipt of its
    /// audit entry (written before anything is sent).
    pub async fn document(
        &self,
        caller: &PeerIdentity,
        req: &pb::GetDocumentRequest,
    ) -> Result<(pb::DocumentHeader, Vec<u8>, pb::Receipt), ExchangeError> {
        let mut audited = self.audited(
            caller,
            Service::PassportCopy,
            Purpose::Unspecified,
            req,
            req.context.as_ref(),
        );
        let found = self.document_inner(caller, req, &mut audited.outcome).await;
        let ((header, bytes), receipt) = audited.close(found, |(_, bytes)| sha256(bytes)).await?;
        Ok((header, bytes, receipt))
    }

    async fn document_inner(
        &self,
        caller: &PeerIdentity,
        req: &pb::GetDocumentRequest,
        o: &mut Outcome,
    ) -> Result<(pb::DocumentHeader, Vec<u8>), ExchangeError> {
        let ctx = super::authorize::case_context(req.context.as_ref())?;
        if req.reference.is_empty() {
            return Err(ExchangeError::invalid_argument(
                "reference: required (from a previous match)",
            ));
        }
        // The bound the issuer keeps (`RefStore` resolves nothing longer either).
        if req.reference.len() > crate::refs::MAX_REFERENCE_LEN {
            return Err(ExchangeError::invalid_argument(format!(
                "reference: longer than {} characters, so not one this node issues",
                crate::refs::MAX_REFERENCE_LEN
            )));
        }
        let permit = self
            .authorize(caller, Service::PassportCopy, ctx.purpose, None)
            .await?;
        o.agreement_id = permit.agreement_id.clone();
        let now = (self.clock)();
        // One answer for every reference that yields no copy (unknown, expired, issued to
        // another country, under another agreement or a hit/no-hit answer, a person now
        // shielded from the caller, no copy held): none of these cases can be told apart.
        let unknown = || {
            ExchangeError::not_found(
                "reference: unknown, expired, not issued to your country under this agreement, or no passport copy is held for it",
            )
        };
        let reference = self
            .refs
            .resolve(&req.reference, caller.country.as_str(), now)
            .map_err(internal)?
            .filter(|r| r.full && r.agreement == permit.agreement_id);
        let Some(reference) = reference else {
            return Err(unknown());
        };
        let records = self.records.clone();
        let (record, bytes) = tokio::task::spawn_blocking(move || -> Result<_, ExchangeError> {
            let _view = records.view();
            let record = records.get(reference.record).map_err(internal)?;
            let bytes = records.copy(reference.record).map_err(internal)?;
            Ok((record, bytes))
        })
        .await
        .map_err(internal)??;
        let Some(record) = record else {
            return Err(unknown());
        };
        // Protection is checked again: the status may have changed since the match.
        if let Err(w) = protection_verdict(&record, caller) {
            o.decision = pb::Decision::Withheld as i32;
            o.rule = w.rule().to_string();
            return Err(unknown());
        }
        let (Some(info), Some(bytes)) = (record.passport_copy.as_ref(), bytes) else {
            return Err(unknown());
        };
        // The header discloses only what the grant does.
        let granted = |f: Field| permit.fields.contains(&f);
        let doc = record.document.as_ref();
        let mut disclosed = Vec::new();
        let document_type = match doc {
            Some(d) if granted(Field::DocumentType) => {
                disclosed.push(Field::DocumentType);
                convert::pb_document_type(d.document_type) as i32
            }
            _ => 0,
        };
        let issuing_state = match doc {
            Some(d) if granted(Field::IssuingState) => {
                disclosed.push(Field::IssuingState);
                d.issuing_state.clone()
            }
            _ => String::new(),
        };
        o.disclosed_fields = disclosed.into_iter().map(|f| f as i32).collect();
        let header = pb::DocumentHeader {
            media_type: info.media_type.clone(),
            size_bytes: info.size,
            sha256: info.sha256.to_vec(),
            document_type,
            issuing_state,
            agreement_id: permit.agreement_id.clone(),
            retention_days: permit.retention_days,
        };
        Ok((header, bytes))
    }
}
