//! English and Spanish, the region's working languages: the language comes from the
//! browser's `Accept-Language` until the person picks one with the switch. Every text
//! of the pages is a key of [`MESSAGES`], with both translations.

use axum::http::{header, HeaderMap};

/// A language of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Spanish.
    Es,
}

impl Lang {
    /// The language code, as in `lang="…"`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// `en` or `es`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Lang::En),
            "es" => Some(Lang::Es),
            _ => None,
        }
    }

    /// The browser's preferred one of the two (by q-value, then order); English when it
    /// names neither.
    pub fn from_accept(headers: &HeaderMap) -> Self {
        let value = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut best: Option<(f32, Lang)> = None;
        for part in value.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(l) = Lang::parse(primary) {
                if best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, l));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }

    /// The text of `key` in this language (the key itself if unknown, which a test
    /// forbids for the keys the pages use).
    pub fn t(self, key: &'static str) -> &'static str {
        MESSAGES
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, en, es)| match self {
                Lang::En => *en,
                Lang::Es => *es,
            })
            .unwrap_or(key)
    }
}

/// Every text: key, English, Spanish.
pub const MESSAGES: &[(&str, &str, &str)] = &[
    ("app", "Puente console", "Consola Puente"),
    ("nav.ask", "Ask", "Consultar"),
    ("nav.agreements", "Agreements", "Acuerdos"),
    ("nav.peers", "Peers", "Pares"),
    ("nav.log", "Log", "Bitácora"),
    ("nav.search", "Search", "Buscar"),
    ("nav.checkpoints", "Checkpoints", "Puntos de control"),
    ("nav.stats", "Statistics", "Estadísticas"),
    ("nav.charts", "Charts", "Gráficos"),
    ("nav.alerts", "Alerts", "Alertas"),
    ("charts.triage", "Triage (kept on the node)", "Clasificación (guardada en el nodo)"),
    ("charts.comment", "comment (no personal data)", "comentario (sin datos personales)"),
    ("charts.keep", "Keep", "Guardar"),
    ("triage.normal", "normal", "normal"),
    ("triage.incident", "incident", "incidente"),
    ("triage.seen", "seen", "visto"),
    ("alerts.title", "Early warnings", "Alertas tempranas"),
    ("alerts.severity", "Severity", "Gravedad"),
    ("alerts.text", "Text", "Texto"),
    ("alerts.period", "Period", "Periodo"),
    ("alerts.entry", "Entry points", "Puntos de entrada"),
    ("alerts.observed", "Observed", "Observado"),
    ("alerts.baseline", "baseline", "línea base"),
    ("alerts.drafts", "Drafts from surges in the flow counts", "Borradores por aumentos en los flujos"),
    ("alerts.detect", "Look for surges now", "Buscar aumentos ahora"),
    ("alerts.nodrafts", "No draft waits for review.", "Ningún borrador espera revisión."),
    ("alerts.review", "Review and publish…", "Revisar y publicar…"),
    ("alerts.received", "Received from peers", "Recibidas de los pares"),
    ("alerts.issued", "Issued by this country", "Emitidas por este país"),
    ("alerts.gone", "That draft is no longer waiting (published, or unknown).", "Ese borrador ya no espera (publicado, o desconocido)."),
    ("alerts.confirm.title", "Publish this alert?", "¿Publicar esta alerta?"),
    ("alerts.confirm.text", "The node signs it with this country's key and sends it to every peer whose agreement grants alerts. It cannot be withdrawn.", "El nodo la firma con la clave de este país y la envía a cada par cuyo acuerdo concede alertas. No se puede retirar."),
    ("alerts.confirm.box", "I have checked the alert and publish it", "He revisado la alerta y la publico"),
    ("alerts.publish", "Publish", "Publicar"),
    ("alerts.cancel", "Cancel", "Cancelar"),
    ("alerts.unconfirmed", "Not published: the confirmation box was not ticked.", "No publicada: no se marcó la casilla de confirmación."),
    ("alerts.published", "Published and sent.", "Publicada y enviada."),
    ("charts.title", "Exchanges and anomalies", "Intercambios y anomalías"),
    ("charts.range", "Give a range of at most 366 days, the first day before the last.", "Indique un intervalo de 366 días como máximo, el primer día antes del último."),
    ("charts.legend", "Green: allowed · amber: withheld (protection rule) · red: refused. Days in UTC.", "Verde: permitido · ámbar: retenido (regla de protección) · rojo: rechazado. Días en UTC."),
    ("charts.per.day", "Exchanges per day, by peer and decision", "Intercambios por día, por par y decisión"),
    ("charts.rules", "Refusals by rule", "Rechazos por regla"),
    ("charts.quota", "Quota units used per day, by agreement, peer and service (each exchange an agreement permitted takes one)", "Unidades de cuota usadas por día, por acuerdo, par y servicio (cada intercambio que un acuerdo permitió toma una)"),
    ("charts.anomalies", "Anomalies", "Anomalías"),
    ("charts.anomalies.help", "Days on which a peer's volume or refusal rate departs from its own baseline over the range: median and median absolute deviation, modified z-score above 3.5; a peer needs 7 days of history.", "Días en que el volumen o la tasa de rechazo de un par se aparta de su propia línea base en el intervalo: mediana y desviación absoluta mediana, puntuación z modificada mayor que 3,5; un par necesita 7 días de historia."),
    ("charts.none", "No day departs from its peer's baseline.", "Ningún día se aparta de la línea base de su par."),
    ("role.operator", "officer", "oficial"),
    ("role.auditor", "auditor", "auditor"),
    ("as", "as", "como"),
    ("of.node", "node", "nodo"),
    ("lang.switch", "Language", "Idioma"),
    ("error", "The node said", "El nodo respondió"),
    ("ask.title", "Ask a peer about a person", "Consultar a un par sobre una persona"),
    ("ask.peer", "Peer and purpose", "Par y finalidad"),
    ("ask.none", "No agreement in force lets this country ask anyone about identities.", "Ningún acuerdo vigente permite a este país consultar identidades."),
    ("ask.case", "Case reference", "Referencia del caso"),
    ("ask.by.document", "By document", "Por documento"),
    ("ask.document", "Document number", "Número de documento"),
    ("ask.issuer", "Issuing state", "Estado emisor"),
    ("ask.doctype", "Document type", "Tipo de documento"),
    ("ask.by.mrz", "By MRZ (both lines)", "Por ZLM (ambas líneas)"),
    ("ask.by.name", "By name and birth date", "Por nombre y fecha de nacimiento"),
    ("ask.given", "Given names", "Nombres"),
    ("ask.surnames", "Surnames", "Apellidos"),
    ("ask.whole", "Or the whole name (split unknown)", "O el nombre completo (sin separar)"),
    ("ask.birth", "Birth date (YYYY-MM-DD, YYYY-MM or YYYY)", "Fecha de nacimiento (AAAA-MM-DD, AAAA-MM o AAAA)"),
    ("ask.nationality", "Nationality (optional)", "Nacionalidad (opcional)"),
    ("ask.send", "Ask", "Consultar"),
    ("ask.one.way", "Say who to look for in exactly one way: a document, the MRZ, or a name with the birth date.", "Indique a quién buscar de una sola forma: un documento, la ZLM o un nombre con la fecha de nacimiento."),
    ("ask.bad.birth", "The birth date must be YYYY-MM-DD, YYYY-MM or YYYY.", "La fecha de nacimiento debe ser AAAA-MM-DD, AAAA-MM o AAAA."),
    ("ask.bad.peer", "That peer and purpose is not one an agreement in force grants.", "Ese par y finalidad no lo concede ningún acuerdo vigente."),
    ("ask.need.birth", "A name query needs the birth date.", "Una consulta por nombre necesita la fecha de nacimiento."),
    ("ask.result", "Answer of", "Respuesta de"),
    ("ask.match", "Match", "Coincidencia"),
    ("ask.matches", "match(es)", "coincidencia(s)"),
    ("ask.nomatch", "No match", "Sin coincidencia"),
    ("ask.score", "score", "puntuación"),
    ("ask.why", "Why it matched", "Por qué coincide"),
    ("ask.hitnohit", "The agreement allows only hit/no-hit: no details are disclosed.", "El acuerdo solo permite sí/no: no se revelan detalles."),
    ("ask.receipt.ok", "The peer's signed receipt verified.", "El recibo firmado del par fue verificado."),
    ("ask.receipt.no", "The peer's receipt did NOT verify.", "El recibo del par NO fue verificado."),
    ("ask.audit", "Audit entry", "Entrada de auditoría"),
    ("ask.retention", "Keep for at most (days)", "Conservar como máximo (días)"),
    ("ask.fetch", "Fetch the passport copy", "Obtener la copia del pasaporte"),
    ("why.document", "same document number and issuing state", "mismo número de documento y estado emisor"),
    ("why.surnames", "same surnames", "mismos apellidos"),
    ("why.surnames.near", "surnames alike", "apellidos parecidos"),
    ("why.given", "same given names", "mismos nombres"),
    ("why.given.near", "given names alike", "nombres parecidos"),
    ("why.birth", "same birth date", "misma fecha de nacimiento"),
    ("why.birth.partial", "birth date compatible", "fecha de nacimiento compatible"),
    ("why.nationality", "same nationality", "misma nacionalidad"),
    ("why.undisclosed", "the peer's matcher decided on fields not disclosed to us", "el cotejo del par se basó en datos que no nos revela"),
    ("field.given", "Given names", "Nombres"),
    ("field.surnames", "Surnames", "Apellidos"),
    ("field.birth", "Birth date", "Fecha de nacimiento"),
    ("field.sex", "Sex", "Sexo"),
    ("field.nationality", "Nationality", "Nacionalidad"),
    ("field.document", "Document", "Documento"),
    ("field.expiry", "Document expiry", "Vencimiento del documento"),
    ("field.encounter", "Last encounter", "Último encuentro"),
    ("field.route", "Route", "Ruta"),
    ("field.vulnerability", "Vulnerability", "Vulnerabilidad"),
    ("field.copy", "Passport copy", "Copia del pasaporte"),
    ("copy.title", "Passport copy", "Copia del pasaporte"),
    ("copy.verified", "SHA-256 verified: the bytes are those the peer declared.", "SHA-256 verificado: los bytes son los que declaró el par."),
    ("copy.bad", "SHA-256 does NOT match: do not rely on this copy.", "El SHA-256 NO coincide: no confíe en esta copia."),
    ("copy.download", "Download", "Descargar"),
    ("copy.gone", "This copy is no longer held by the console: fetch it again.", "La consola ya no guarda esta copia: obténgala de nuevo."),
    ("agr.title", "Agreements", "Acuerdos"),
    ("agr.none", "No agreements.", "No hay acuerdos."),
    ("agr.valid", "valid", "vigencia"),
    ("agr.expires.in", "expires in (days)", "vence en (días)"),
    ("agr.may.ask", "may obtain from", "puede obtener de"),
    ("agr.services", "services", "servicios"),
    ("agr.purposes", "for", "para"),
    ("agr.fields", "disclosing", "revelando"),
    ("agr.mode.full", "full answers", "respuestas completas"),
    ("agr.mode.hit", "hit/no-hit only", "solo sí/no"),
    ("agr.keep", "kept at most (days)", "conservado como máximo (días)"),
    ("agr.queries", "queries used today", "consultas usadas hoy"),
    ("agr.copies", "copies used today", "copias usadas hoy"),
    ("agr.we.grant", "We grant them", "Les concedemos"),
    ("agr.they.grant", "They grant us", "Nos conceden"),
    ("state.in_force", "in force", "vigente"),
    ("state.not_yet", "not yet valid", "aún no vigente"),
    ("state.expired", "expired", "vencido"),
    ("state.invalid", "invalid", "inválido"),
    ("state.superseded", "superseded", "reemplazado"),
    ("peers.title", "Peers", "Pares"),
    ("peers.country", "Country", "País"),
    ("peers.address", "Address", "Dirección"),
    ("peers.reach", "Reachable", "Alcanzable"),
    ("peers.rtt", "Round trip", "Ida y vuelta"),
    ("peers.cert", "Certificate until", "Certificado hasta"),
    ("peers.ca", "CA fingerprint", "Huella de la CA"),
    ("peers.key", "Signing key", "Clave de firma"),
    ("yes", "yes", "sí"),
    ("no", "no", "no"),
    ("log.title", "Audit log", "Bitácora de auditoría"),
    ("log.peer", "Peer", "Par"),
    ("log.direction", "Direction", "Dirección"),
    ("log.service", "Service", "Servicio"),
    ("log.decision", "Decision", "Decisión"),
    ("log.rule", "Rule", "Regla"),
    ("log.since", "From (YYYY-MM-DD)", "Desde (AAAA-MM-DD)"),
    ("log.until", "Until (YYYY-MM-DD)", "Hasta (AAAA-MM-DD)"),
    ("log.case", "Case reference", "Referencia del caso"),
    ("log.actor", "Actor", "Actor"),
    ("log.any", "any", "cualquiera"),
    ("log.filter", "Filter", "Filtrar"),
    ("log.time", "Time", "Hora"),
    ("log.purpose", "Purpose", "Finalidad"),
    ("log.next", "Next page", "Página siguiente"),
    ("log.export", "Export", "Exportar"),
    ("log.empty", "No entries match.", "Ninguna entrada coincide."),
    ("log.size", "entries in the log", "entradas en la bitácora"),
    ("dir.in", "incoming", "entrante"),
    ("dir.out", "outgoing", "saliente"),
    ("dec.allowed", "allowed", "permitido"),
    ("dec.refused", "refused", "rechazado"),
    ("dec.withheld", "withheld", "retenido"),
    ("entry.title", "Audit entry", "Entrada de auditoría"),
    ("entry.reason", "Reason", "Motivo"),
    ("entry.agreement", "Agreement", "Acuerdo"),
    ("entry.fields", "Fields disclosed", "Datos revelados"),
    ("entry.request", "Request SHA-256", "SHA-256 de la solicitud"),
    ("entry.response", "Response SHA-256", "SHA-256 de la respuesta"),
    ("entry.terms", "Keyed hashes of the query terms", "Hashes con clave de los términos"),
    ("entry.receipt", "Counterpart's receipt", "Recibo de la contraparte"),
    ("entry.noreceipt", "none (the counterpart gives none for this exchange)", "ninguno (la contraparte no da recibo para este intercambio)"),
    ("proof.title", "Inclusion proof", "Prueba de inclusión"),
    ("proof.proven", "proven", "probado"),
    ("proof.proven.text", "The entry is in the log: its inclusion proof verifies against the latest checkpoint, whose signature verifies with this country's key.", "La entrada está en la bitácora: su prueba de inclusión verifica contra el último punto de control, cuya firma verifica con la clave de este país."),
    ("proof.failed", "NOT proven", "NO probado"),
    ("proof.nokey", "The checkpoint's signature was not checked: start the console with --bundle of this country's public bundle.", "La firma del punto de control no fue verificada: inicie la consola con --bundle del paquete público de este país."),
    ("proof.leaf", "Leaf hash", "Hash de la hoja"),
    ("proof.root", "Root", "Raíz"),
    ("proof.size", "Tree size", "Tamaño del árbol"),
    ("cp.title", "Checkpoints", "Puntos de control"),
    ("cp.latest", "Latest checkpoint", "Último punto de control"),
    ("cp.signed", "Signed by this country: signature verified", "Firmado por este país: firma verificada"),
    ("cp.time", "Signed at", "Firmado el"),
    ("cp.cosig", "Cosignatures by peers", "Cofirmas de los pares"),
    ("cp.witness", "Witness", "Testigo"),
    ("cp.at.size", "At size", "En tamaño"),
    ("cp.verified", "verified", "verificada"),
    ("cp.consistent", "consistent with the latest", "coherente con el último"),
    ("cp.unknown", "no key for this witness (add its bundle)", "sin clave para este testigo (añada su paquete)"),
    ("cp.none", "No peer has cosigned yet.", "Ningún par ha cofirmado todavía."),
    ("search.title", "Who asked about a person", "Quién consultó sobre una persona"),
    ("search.help", "The node computes the keyed hash of these terms with its data key; the log holds no names or document numbers.", "El nodo calcula el hash con clave de estos términos con su clave de datos; la bitácora no guarda nombres ni números de documento."),
    ("search.send", "Search", "Buscar"),
    ("search.found", "exchange(s) concerned this person", "intercambio(s) se refirieron a esta persona"),
    ("stats.title", "Flow statistics", "Estadísticas de flujos"),
    ("stats.period", "Period (YYYY-MM, empty = all)", "Periodo (AAAA-MM, vacío = todos)"),
    ("stats.show", "Show", "Mostrar"),
    ("stats.reporting", "Reporting country", "País informante"),
    ("stats.total", "Total", "Total"),
    ("stats.suppressed", "suppressed (small cell)", "suprimido (celda pequeña)"),
    ("stats.legend", "▒ = a cell suppressed under the agreement's small-cell threshold: not zero, not shown.", "▒ = celda suprimida por el umbral de celdas pequeñas del acuerdo: no es cero, no se muestra."),
    ("stats.sdmx", "Download SDMX-CSV", "Descargar SDMX-CSV"),
    ("stats.empty", "No cells.", "No hay celdas."),
    ("stats.chart", "Counts by nationality", "Conteos por nacionalidad"),
    ("stats.chart.country", "Counts by reporting country", "Conteos por país informante"),
    ("stats.chart.month", "Counts by month", "Conteos por mes"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn every_key_is_once_and_translated() {
        let mut seen = std::collections::HashSet::new();
        for (k, en, es) in MESSAGES {
            assert!(seen.insert(*k), "{k} twice");
            assert!(!en.is_empty() && !es.is_empty(), "{k} untranslated");
        }
    }

    #[test]
    fn the_browser_language_decides() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(v));
            Lang::from_accept(&h)
        };
        assert_eq!(with("es-MX,es;q=0.9,en;q=0.8"), Lang::Es);
        assert_eq!(with("en-US,en;q=0.9,es;q=0.8"), Lang::En);
        assert_eq!(with("fr-FR,es;q=0.5"), Lang::Es);
        assert_eq!(with("en;q=0.2,es;q=0.7"), Lang::Es);
        assert_eq!(with("fr"), Lang::En);
        assert_eq!(Lang::from_accept(&HeaderMap::new()), Lang::En);
    }
}
