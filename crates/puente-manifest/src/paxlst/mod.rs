//! UN/EDIFACT PAXLST, the passenger list of the WCO/IATA/ICAO API guidelines: the
//! interchange (UNB … UNZ), its messages (UNH … UNT), each a BGM, the flight (TDT with
//! its LOC/DTM: departure 125/189, arrival 87/232) and one group per passenger (NAD+FL,
//! ATT, DTM 329, LOC, NAT, RFF, then the DOC group with its DTM 36 and LOC 91).
//!
//! Segments are read in the order the message guide sets; one out of place, a count in
//! UNT or UNZ that does not match, or a reference that differs between the header and
//! trailer refuses the whole interchange, naming the segment's index, tag and element.

use crate::edifact::{self, Segment};
use crate::error::ManifestError;
use crate::model::{Format, LocalTime, Manifest, Passenger, Stop};
use crate::passenger as check;

mod group;

use group::{date_time, Draft};

/// Parses a PAXLST interchange. `today` settles the century of two-digit years.
pub fn parse(text: &str, today: time::Date) -> Result<Manifest, ManifestError> {
    let (_, segments) = edifact::segments(text)?;
    Reader::new(today).read(&segments)
}

/// Where a segment sits inside a passenger's group, in message-guide order.
fn passenger_stage(tag: &str) -> Option<u8> {
    Some(match tag {
        "ATT" => 1,
        "GEI" | "FTX" => 3,
        "LOC" => 4,
        "COM" | "EMP" => 5,
        "NAT" => 6,
        "RFF" => 7,
        "DOC" => 8,
        _ => return None,
    })
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Stage {
    /// Before UNB.
    Start,
    /// After UNB or UNT: UNH, UNG or UNZ next.
    Interchange,
    /// After UNH: BGM next.
    Header,
    /// After BGM: reporting party, references, then the first TDT.
    Document,
    /// In the flight's TDT/LOC/DTM group.
    Flight,
    /// In a passenger's group; the number is the last [`passenger_stage`].
    Passenger(u8),
    /// After CNT: UNT next.
    Control,
    /// After UNZ: nothing may follow.
    Done,
}

struct Reader {
    today: time::Date,
    stage: Stage,
    carrier: String,
    trip: String,
    route: Vec<Stop>,
    departure: Option<LocalTime>,
    arrival: Option<LocalTime>,
    last_loc: Option<String>,
    passengers: Vec<Passenger>,
    draft: Option<Draft>,
    interchange_ref: String,
    message_ref: String,
    message_start: usize,
    messages: usize,
    groups: usize,
    in_group: Option<(String, usize)>,
    declared_total: Option<(usize, usize)>,
    sender: String,
}

fn err(s: &Segment, field: impl Into<String>, reason: impl Into<String>) -> ManifestError {
    ManifestError::segment(s.index, &s.tag, field, reason)
}

fn number(s: &Segment, e: usize, what: &str) -> Result<usize, ManifestError> {
    let v = s.get(e, 0);
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(
            s,
            format!("element {} ({what})", e + 1),
            format!(
                "{:?} is not a count",
                v.chars().take(12).collect::<String>()
            ),
        ));
    }
    v.parse()
        .map_err(|_| err(s, format!("element {} ({what})", e + 1), "not a count"))
}

impl Reader {
    fn new(today: time::Date) -> Self {
        Self {
            today,
            stage: Stage::Start,
            carrier: String::new(),
            trip: String::new(),
            route: Vec::new(),
            departure: None,
            arrival: None,
            last_loc: None,
            passengers: Vec::new(),
            draft: None,
            interchange_ref: String::new(),
            message_ref: String::new(),
            message_start: 0,
            messages: 0,
            groups: 0,
            in_group: None,
            declared_total: None,
            sender: String::new(),
        }
    }

    fn read(mut self, segments: &[Segment]) -> Result<Manifest, ManifestError> {
        for s in segments {
            self.segment(s)?;
        }
        if self.stage != Stage::Done {
            let last = segments
                .last()
                .map(|s| format!("after segment {} ({})", s.index, s.tag))
                .unwrap_or_else(|| "no segment at all".into());
            return Err(ManifestError::Truncated(format!(
                "the interchange ends {last} without its UNZ"
            )));
        }
        if self.passengers.is_empty() {
            return Err(ManifestError::Truncated(
                "the interchange lists no passenger (no NAD+FL group)".into(),
            ));
        }
        if let Some((index, n)) = self.declared_total {
            if n != self.passengers.len() {
                return Err(ManifestError::segment(
                    index,
                    "CNT",
                    "element 1 (total passengers)",
                    format!(
                        "says {n} passengers, the interchange lists {}",
                        self.passengers.len()
                    ),
                ));
            }
        }
        if self.carrier.is_empty() {
            self.carrier = self.sender.clone();
        }
        Ok(Manifest {
            format: Format::Paxlst,
            carrier: self.carrier,
            trip: self.trip,
            route: self.route,
            departure: self.departure,
            arrival: self.arrival,
            passengers: self.passengers,
        })
    }

    fn unexpected(&self, s: &Segment) -> ManifestError {
        let expected = match self.stage {
            Stage::Start => "UNB",
            Stage::Interchange => "UNH, UNG, UNE or UNZ",
            Stage::Header => "BGM",
            Stage::Document => "NAD+MS, COM, RFF or TDT",
            Stage::Flight => "LOC, DTM, TDT, NAD (a passenger), CNT or UNT",
            Stage::Passenger(_) => {
                "the passenger's segments in order (ATT, DTM, LOC, NAT, RFF, DOC), the next NAD, CNT or UNT"
            }
            Stage::Control => "UNT",
            Stage::Done => "nothing after UNZ",
        };
        err(
            s,
            "segment",
            format!("wrong segment order: {} here; expected {expected}", s.tag),
        )
    }

    fn segment(&mut self, s: &Segment) -> Result<(), ManifestError> {
        match (self.stage, s.tag.as_str()) {
            (Stage::Start, "UNB") => self.unb(s),
            (Stage::Interchange, "UNG") if self.in_group.is_none() => {
                let r = s.get(4, 0);
                if r.is_empty() {
                    return Err(err(s, "element 5 (group reference)", "is empty"));
                }
                self.in_group = Some((r.to_string(), self.messages));
                self.groups += 1;
                Ok(())
            }
            (Stage::Interchange, "UNE") => self.une(s),
            (Stage::Interchange, "UNH") => self.unh(s),
            (Stage::Interchange, "UNZ") => self.unz(s),
            (Stage::Header, "BGM") => {
                match s.get(0, 0) {
                    "745" => {}
                    "250" => {
                        return Err(err(
                            s,
                            "element 1 (document name code)",
                            "250 is a crew list; send passengers (745)",
                        ))
                    }
                    other => {
                        return Err(err(
                            s,
                            "element 1 (document name code)",
                            format!(
                                "{:?} is not a passenger list (745)",
                                other.chars().take(8).collect::<String>()
                            ),
                        ))
                    }
                }
                self.stage = Stage::Document;
                Ok(())
            }
            (Stage::Document, "NAD") if s.get(0, 0) == "MS" => Ok(()),
            (Stage::Document, "COM" | "RFF" | "CTA") => Ok(()),
            (Stage::Document | Stage::Flight, "TDT") => self.tdt(s),
            (Stage::Flight, "LOC") => self.flight_loc(s),
            (Stage::Flight, "DTM") => self.flight_dtm(s),
            (Stage::Flight | Stage::Passenger(_), "NAD") => self.nad(s),
            (Stage::Passenger(at), tag) if tag != "NAD" && passenger_stage(tag).is_some() => {
                self.in_passenger(s, at)
            }
            (Stage::Passenger(at), "DTM") => self.in_passenger(s, at),
            (Stage::Flight | Stage::Passenger(_), "CNT") => {
                self.finish_passenger()?;
                if s.get(0, 0) == "42" {
                    let v = s.get(0, 1);
                    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(err(
                            s,
                            "element 1 (total passengers)",
                            "the count is not a number",
                        ));
                    }
                    let n = v.parse::<usize>().unwrap_or(usize::MAX);
                    self.declared_total = Some((s.index, n));
                }
                self.stage = Stage::Control;
                Ok(())
            }
            (Stage::Flight | Stage::Passenger(_) | Stage::Control, "UNT") => self.unt(s),
            _ => Err(self.unexpected(s)),
        }
    }

    fn unb(&mut self, s: &Segment) -> Result<(), ManifestError> {
        if !s.get(0, 0).starts_with("UNO") {
            return Err(err(
                s,
                "element 1 (syntax identifier)",
                "expected a UNOA-UNOY syntax identifier",
            ));
        }
        self.sender = s.get(1, 0).to_string();
        if self.sender.is_empty() {
            return Err(err(s, "element 2 (sender)", "is empty"));
        }
        self.interchange_ref = s.get(4, 0).to_string();
        if self.interchange_ref.is_empty() {
            return Err(err(
                s,
                "element 5 (interchange control reference)",
                "is empty",
            ));
        }
        self.stage = Stage::Interchange;
        Ok(())
    }

    fn une(&mut self, s: &Segment) -> Result<(), ManifestError> {
        let Some((r, first)) = self.in_group.take() else {
            return Err(self.unexpected(s));
        };
        let n = number(s, 0, "message count")?;
        if n != self.messages - first {
            return Err(err(
                s,
                "element 1 (message count)",
                format!(
                    "says {n} messages, the group holds {}",
                    self.messages - first
                ),
            ));
        }
        if s.get(1, 0) != r {
            return Err(err(
                s,
                "element 2 (group reference)",
                "differs from the UNG's",
            ));
        }
        Ok(())
    }

    fn unh(&mut self, s: &Segment) -> Result<(), ManifestError> {
        self.message_ref = s.get(0, 0).to_string();
        if self.message_ref.is_empty() {
            return Err(err(s, "element 1 (message reference)", "is empty"));
        }
        if s.get(1, 0) != "PAXLST" {
            return Err(err(
                s,
                "element 2 (message type)",
                format!(
                    "{:?} is not PAXLST",
                    s.get(1, 0).chars().take(8).collect::<String>()
                ),
            ));
        }
        self.message_start = s.index;
        self.messages += 1;
        self.stage = Stage::Header;
        Ok(())
    }

    fn unt(&mut self, s: &Segment) -> Result<(), ManifestError> {
        self.finish_passenger()?;
        let n = number(s, 0, "segment count")?;
        let actual = s.index + 1 - self.message_start;
        if n != actual {
            return Err(err(
                s,
                "element 1 (segment count)",
                format!("says {n} segments, the message (UNH to UNT) has {actual}"),
            ));
        }
        if s.get(1, 0) != self.message_ref {
            return Err(err(
                s,
                "element 2 (message reference)",
                "differs from the UNH's",
            ));
        }
        if self.trip.is_empty() {
            return Err(err(s, "segment", "the message has no TDT (flight)"));
        }
        self.stage = Stage::Interchange;
        Ok(())
    }

    fn unz(&mut self, s: &Segment) -> Result<(), ManifestError> {
        if self.in_group.is_some() {
            return Err(self.unexpected(s));
        }
        let n = number(s, 0, "interchange control count")?;
        let (actual, what) = if self.groups > 0 {
            (self.groups, "functional groups")
        } else {
            (self.messages, "messages")
        };
        if n != actual {
            return Err(err(
                s,
                "element 1 (interchange control count)",
                format!("says {n}, the interchange holds {actual} {what}"),
            ));
        }
        if s.get(1, 0) != self.interchange_ref {
            return Err(err(
                s,
                "element 2 (interchange control reference)",
                "differs from the UNB's",
            ));
        }
        self.stage = Stage::Done;
        Ok(())
    }

    fn tdt(&mut self, s: &Segment) -> Result<(), ManifestError> {
        let trip = s.get(1, 0).trim();
        if trip.is_empty() || trip.chars().count() > 35 {
            return Err(err(
                s,
                "element 2 (conveyance reference: flight number)",
                "must be 1-35 characters",
            ));
        }
        if !self.trip.is_empty() && self.trip != trip {
            return Err(err(
                s,
                "element 2 (conveyance reference: flight number)",
                "differs from the flight of the earlier TDT: one manifest is one flight",
            ));
        }
        self.trip = trip.to_string();
        let carrier = s.get(4, 0).trim();
        if !carrier.is_empty() {
            self.carrier = carrier.chars().take(35).collect();
        }
        self.stage = Stage::Flight;
        Ok(())
    }

    fn flight_loc(&mut self, s: &Segment) -> Result<(), ManifestError> {
        let place = s.get(1, 0).trim();
        if place.is_empty() || place.chars().count() > 35 {
            return Err(err(s, "element 2 (place)", "must be 1-35 characters"));
        }
        let qualifier = s.get(0, 0);
        if !matches!(qualifier, "125" | "87" | "92") {
            return Err(err(
                s,
                "element 1 (place qualifier)",
                "a flight's places are 125 (departure), 87 (arrival) or 92 (routing)",
            ));
        }
        // A multi-part manifest repeats the flight's places in each message.
        if !self.route.iter().any(|p| p.place == place) {
            self.route.push(Stop {
                place: place.to_string(),
                country: None,
                border_crossing: false,
            });
        }
        self.last_loc = Some(qualifier.to_string());
        Ok(())
    }

    fn flight_dtm(&mut self, s: &Segment) -> Result<(), ManifestError> {
        let t = date_time(s, self.today, false)?;
        match s.get(0, 0) {
            "189" => self.departure = Some(t),
            "232" => self.arrival = Some(t),
            _ => {
                return Err(err(
                    s,
                    "element 1 (date/time qualifier)",
                    "a flight's times are 189 (departure) or 232 (arrival)",
                ))
            }
        }
        Ok(())
    }

    fn nad(&mut self, s: &Segment) -> Result<(), ManifestError> {
        self.finish_passenger()?;
        match s.get(0, 0) {
            "FL" | "DDT" | "COT" => {}
            "FM" => {
                return Err(err(
                    s,
                    "element 1 (party function)",
                    "FM is a crew member; a passenger list holds passengers (FL)",
                ))
            }
            _ => return Err(self.unexpected(s)),
        }
        if self.passengers.len() >= crate::MAX_PASSENGERS {
            return Err(ManifestError::TooManyPassengers {
                place: format!("segment {} (NAD)", s.index),
                max: crate::MAX_PASSENGERS,
            });
        }
        let name = s.elements.get(3).cloned().unwrap_or_default();
        let surnames = name.first().cloned().unwrap_or_default();
        let given = name
            .iter()
            .skip(1)
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let (given, surnames) = check::names(&given, &surnames)
            .map_err(|(f, r)| err(s, format!("element 4 (party name: {f})"), r))?;
        self.draft = Some(Draft {
            start: s.index,
            given,
            surnames,
            birth: None,
            sex: None,
            nationality: None,
            document: None,
            doc_pending: false,
            embarkation: None,
            debarkation: None,
        });
        self.stage = Stage::Passenger(0);
        Ok(())
    }

    fn in_passenger(&mut self, s: &Segment, at: u8) -> Result<(), ManifestError> {
        let today = self.today;
        let Some(d) = self.draft.as_mut() else {
            return Err(err(s, "segment", "outside a passenger's group"));
        };
        // DTM belongs to the passenger (birth, stage 2) or to the DOC before it.
        let stage = match s.tag.as_str() {
            "DTM" if at >= 8 => 8,
            "DTM" => 2,
            "LOC" | "RFF" | "GEI" if at >= 8 => 8,
            t => passenger_stage(t).unwrap_or(0),
        };
        if stage < at || (stage == at && matches!(s.tag.as_str(), "ATT" | "NAT")) {
            return Err(err(
                s,
                "segment",
                format!(
                    "wrong segment order: {} after the passenger's later segments (order: NAD, ATT, DTM, LOC, NAT, RFF, DOC)",
                    s.tag
                ),
            ));
        }
        d.apply(s, stage, today)?;
        self.stage = Stage::Passenger(stage);
        Ok(())
    }

    fn finish_passenger(&mut self) -> Result<(), ManifestError> {
        let Some(d) = self.draft.take() else {
            return Ok(());
        };
        let missing = |field: &str| {
            ManifestError::segment(d.start, "NAD", field, "missing from the passenger's group")
        };
        let date_of_birth = d.birth.ok_or_else(|| missing("DTM+329 (date of birth)"))?;
        let sex = d.sex.ok_or_else(|| missing("ATT+2 (gender)"))?;
        let nationality = d
            .nationality
            .clone()
            .ok_or_else(|| missing("NAT+2 (nationality)"))?;
        if let Some(doc) = &d.document {
            if doc.issuing_state.is_empty() {
                return Err(missing("LOC+91 (document issuing country)"));
            }
        }
        self.passengers.push(Passenger {
            given_names: d.given,
            surnames: d.surnames,
            date_of_birth,
            sex,
            nationality,
            document: d.document,
            embarkation: d.embarkation,
            debarkation: d.debarkation,
        });
        Ok(())
    }
}
