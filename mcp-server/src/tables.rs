//! The DynamoDB tables this server reads and writes: keys and secondary indexes, in one place.
//!
//! `seed` creates tables from these definitions, the background check at start compares
//! against them, and the store builds its queries and pagination cursors from them. Every key
//! attribute is a string.

/// A global secondary index (projection: all attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// A table's key schema and indexes. Tables are billed per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    /// What the table holds, as named in logs and errors.
    pub kind: &'static str,
    pub partition_key: &'static str,
    pub indexes: &'static [IndexDef],
}

impl TableDef {
    /// Every attribute that is a key of the table or of one of its indexes.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key];
        for index in self.indexes {
            for name in [index.partition_key, index.sort_key] {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }
}

pub const REVIEWS_BY_PRODUCT: IndexDef = IndexDef {
    name: "by_product",
    partition_key: "product_id",
    sort_key: "created_at",
};
pub const REVIEWS_BY_CUSTOMER: IndexDef = IndexDef {
    name: "by_customer",
    partition_key: "customer_id",
    sort_key: "created_at",
};
pub const WARRANTIES_BY_CUSTOMER: IndexDef = IndexDef {
    name: "by_customer",
    partition_key: "customer_id",
    sort_key: "end_date",
};
pub const TICKETS_BY_CUSTOMER: IndexDef = IndexDef {
    name: "by_customer",
    partition_key: "customer_id",
    sort_key: "created_at",
};
pub const TICKETS_BY_CUSTOMER_STATUS: IndexDef = IndexDef {
    name: "by_customer_status",
    partition_key: "customer_status",
    sort_key: "created_at",
};

/// Reviews, newest first by product and by customer.
pub const REVIEWS: TableDef = TableDef {
    kind: "reviews",
    partition_key: "review_id",
    indexes: &[REVIEWS_BY_PRODUCT, REVIEWS_BY_CUSTOMER],
};

/// Warranties by serial number, and by customer ordered by end date.
pub const WARRANTIES: TableDef = TableDef {
    kind: "warranties",
    partition_key: "serial_number",
    indexes: &[WARRANTIES_BY_CUSTOMER],
};

/// Support tickets by id, by customer, and by customer and status (`customer_status` holds
/// `<customer_id>#<status>`), newest first.
pub const TICKETS: TableDef = TableDef {
    kind: "tickets",
    partition_key: "ticket_id",
    indexes: &[TICKETS_BY_CUSTOMER, TICKETS_BY_CUSTOMER_STATUS],
};
