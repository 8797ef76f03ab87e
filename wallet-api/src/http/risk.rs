//! The credit-profile route. The profile is computed in `crate::service::risk` with the `risk`
//! crate's shipped model.

use super::error::ApiError;
use super::extract::{Auth, DecimalString, PathId};
use super::openapi::{InternalError, Problem, Unauthorized, Unavailable, PROBLEM};
use super::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub const TAG_RISK: &str = "risk";

/// A credit grade, A (best) to E.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum CreditGrade {
    A,
    B,
    C,
    D,
    E,
}

/// Why the score is below the best: one characteristic and the points it cost.
#[derive(Debug, ToSchema)]
pub struct CreditReason {
    #[schema(example = "R03")]
    pub code: String,
    #[schema(example = "Days in arrears in the last 12 months")]
    pub description: String,
    /// The feature behind it.
    #[schema(example = "total_days_in_arrears")]
    pub feature: String,
    /// Points below the characteristic's baseline.
    #[schema(example = 23)]
    pub points: i32,
}

/// A customer's credit profile, computed now.
#[derive(Debug, ToSchema)]
pub struct CreditProfile {
    pub customer_id: Uuid,
    /// 350 to 950.
    #[schema(minimum = 350, maximum = 950, example = 612)]
    pub score: i32,
    pub grade: CreditGrade,
    /// Up to four, largest cost first.
    pub reasons: Vec<CreditReason>,
    /// What the grade grants: a multiple of the average monthly gas spend (zero for D and E).
    pub credit_limit: DecimalString,
    /// The wallet's credit limit now, as the last rescore set it.
    pub applied_credit_limit: DecimalString,
    #[schema(example = "gas-credit-v1")]
    pub model_version: String,
    #[schema(format = DateTime)]
    pub computed_at: String,
}

/// A customer's credit profile.
///
/// Finance, admin, or that customer. Score (PDO scaling, 350–950), grade, up to four reason codes
/// ranked by the points each characteristic lost against its baseline, the credit limit the grade
/// grants and the one the wallet has now, and the model version. Computed from the customer's
/// running history (bills paid on time, arrears, valve closures, balance coverage, top-up
/// regularity, tenure, disputes); `POST /v1/jobs/score` applies the limits.
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/credit-profile",
    tag = TAG_RISK,
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The customer id.")),
    responses(
        (status = 200, description = "The profile.", body = CreditProfile),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 404,
            description = "No such customer, or not the caller's. Codes: `not_found`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn get_credit_profile(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(customer_id): PathId,
) -> Result<Response, ApiError> {
    Ok(Json(state.service.credit_profile(&principal, customer_id)?).into_response())
}
