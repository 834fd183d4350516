use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::teams;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = teams)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}
