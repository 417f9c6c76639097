-- Intake: customers and their identities, contacts and their messages, thread keys, idempotency keys,
-- classification rule sets (versioned documents) and the audit log of admin changes.

CREATE TABLE customer (
    customer_id      uuid        PRIMARY KEY,
    display_name     text,
    grade            text        NOT NULL DEFAULT 'basic' CHECK (grade IN ('strategic', 'key', 'basic')),
    value_tier       text        CHECK (value_tier IN ('high', 'mid', 'low')),
    risk_level       text        CHECK (risk_level IN ('high', 'mid', 'low')),
    lifecycle_stage  text        CHECK (lifecycle_stage IN ('prospect', 'new', 'growing', 'mature', 'declining', 'churned')),
    pii_level        text        NOT NULL DEFAULT 'general' CHECK (pii_level IN ('important', 'general')),
    external_ref     text        UNIQUE,
    attributes       jsonb       NOT NULL DEFAULT '{}',
    merged_into      uuid        REFERENCES customer (customer_id),
    source           text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE customer_identity (
    kind         text        NOT NULL CHECK (kind IN ('phone', 'email', 'chat', 'social')),
    value        text        NOT NULL,
    customer_id  uuid        NOT NULL REFERENCES customer (customer_id),
    valid        boolean     NOT NULL DEFAULT true,
    source       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX customer_identity_customer_idx ON customer_identity (customer_id);

CREATE TABLE customer_merge (
    customer_merge_id  uuid        PRIMARY KEY,
    surviving_id       uuid        NOT NULL REFERENCES customer (customer_id),
    merged_id          uuid        NOT NULL REFERENCES customer (customer_id),
    identities         jsonb       NOT NULL,
    reason             text        NOT NULL,
    merged_by          text        NOT NULL,
    merged_at          timestamptz NOT NULL,
    undone_by          text,
    undone_at          timestamptz
);

CREATE TABLE contact (
    contact_id          uuid        PRIMARY KEY,
    channel             text        NOT NULL,
    customer_id         uuid        NOT NULL REFERENCES customer (customer_id),
    subject             text,
    subject_key         text        NOT NULL DEFAULT '',
    language            text,
    category            text        NOT NULL,
    priority_class      text        NOT NULL,
    emergency           boolean     NOT NULL DEFAULT false,
    emergency_reasons   text[]      NOT NULL DEFAULT '{}',
    required_skills     text[]      NOT NULL DEFAULT '{}',
    classified_by       text        NOT NULL,
    status              text        NOT NULL DEFAULT 'received',
    identity_conflicts  uuid[]      NOT NULL DEFAULT '{}',
    message_count       integer     NOT NULL DEFAULT 1,
    reopen_count        integer     NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    last_message_at     timestamptz NOT NULL,
    ended_at            timestamptz
);
CREATE INDEX contact_customer_channel_idx ON contact (customer_id, channel, last_message_at DESC);
CREATE INDEX contact_subject_idx ON contact (customer_id, subject_key, last_message_at DESC) WHERE channel = 'email';

CREATE TABLE message (
    message_id   uuid        PRIMARY KEY,
    contact_id   uuid        NOT NULL REFERENCES contact (contact_id),
    channel      text        NOT NULL,
    natural_key  text        NOT NULL,
    sender       jsonb       NOT NULL,
    sender_name  text,
    subject      text,
    text         text        NOT NULL,
    original     text        NOT NULL,
    language     text,
    attachments  jsonb       NOT NULL DEFAULT '[]',
    metadata     jsonb       NOT NULL DEFAULT '{}',
    automatic    boolean     NOT NULL DEFAULT false,
    adapter      text        NOT NULL,
    sent_at      timestamptz,
    received_at  timestamptz NOT NULL,
    UNIQUE (channel, natural_key)
);
CREATE INDEX message_contact_idx ON message (contact_id, received_at);

-- Keys naming a conversation (email Message-IDs, chat sessions, call ids): a follow-up finds its contact here.
CREATE TABLE thread_key (
    key         text        PRIMARY KEY,
    contact_id  uuid        NOT NULL REFERENCES contact (contact_id),
    created_at  timestamptz NOT NULL
);

-- Idempotency-Key headers, per adapter: a retried post answers the first result.
CREATE TABLE idempotency_key (
    adapter     text        NOT NULL,
    key         text        NOT NULL,
    contact_id  uuid        NOT NULL,
    message_id  uuid        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (adapter, key)
);
CREATE INDEX idempotency_key_created_idx ON idempotency_key (created_at);

-- Classification rule sets: every PUT is a new version; the highest version is in force.
CREATE TABLE classification_ruleset (
    version     integer     PRIMARY KEY,
    document    jsonb       NOT NULL,
    updated_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE audit_log (
    audit_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor     text        NOT NULL,
    action    text        NOT NULL,
    target    text        NOT NULL,
    detail    jsonb       NOT NULL DEFAULT '{}',
    at        timestamptz NOT NULL
);

-- The shipped defaults (RULES.md: categories, priority classes, emergency flag); admins edit them over the API.
INSERT INTO classification_ruleset (version, document, updated_by, updated_at) VALUES (1, $rules${
 "default_category": "enquiry",
 "priority_by_category": {
  "enquiry": "routine",
  "complaint": "routine",
  "suggestion": "routine",
  "system_fault": "complex",
  "data_anomaly": "complex",
  "service_interruption": "complex",
  "security_event": "urgent",
  "data_leak": "urgent"
 },
 "skills_by_category": {
  "enquiry": [
   "general"
  ],
  "complaint": [
   "complaints"
  ],
  "suggestion": [
   "general"
  ],
  "system_fault": [
   "technical"
  ],
  "data_anomaly": [
   "technical",
   "data"
  ],
  "service_interruption": [
   "technical"
  ],
  "security_event": [
   "security"
  ],
  "data_leak": [
   "security",
   "privacy"
  ]
 },
 "rules": [
  {
   "id": "safety",
   "description": "Personal safety at risk (CH-16): emergency",
   "when": {
    "any_keywords": [
     "人身安全",
     "受伤",
     "火灾",
     "着火",
     "爆炸",
     "触电",
     "煤气泄漏",
     "燃气泄漏",
     "中毒",
     "自杀",
     "轻生",
     "威胁",
     "生命危险",
     "injured",
     "injury",
     "fire",
     "explosion",
     "electric shock",
     "gas leak",
     "poisoning",
     "suicide",
     "threaten",
     "danger to life"
    ]
   },
   "then": {
    "emergency": "safety"
   }
  },
  {
   "id": "data_leak",
   "description": "Personal data disclosed (PR-01 urgent, CH-16 privacy)",
   "when": {
    "any_keywords": [
     "数据泄露",
     "信息泄露",
     "资料泄露",
     "隐私泄露",
     "个人信息被泄露",
     "泄露了我的",
     "外泄",
     "外洩",
     "个资",
     "data leak",
     "data breach",
     "leaked",
     "personal data exposed",
     "privacy breach"
    ]
   },
   "then": {
    "category": "data_leak",
    "emergency": "privacy"
   }
  },
  {
   "id": "security_event",
   "description": "Account or system compromised (PR-01 urgent)",
   "when": {
    "any_keywords": [
     "账号被盗",
     "帐号被盗",
     "被盗号",
     "盗刷",
     "被黑",
     "黑客",
     "病毒",
     "勒索",
     "钓鱼",
     "诈骗",
     "异地登录",
     "未授权",
     "hacked",
     "account stolen",
     "unauthorised",
     "unauthorized",
     "phishing",
     "ransomware",
     "malware",
     "fraud"
    ]
   },
   "then": {
    "category": "security_event",
    "emergency": "security"
   }
  },
  {
   "id": "privacy",
   "description": "Privacy concern without a confirmed leak (CH-16)",
   "when": {
    "any_keywords": [
     "隐私",
     "個人隱私",
     "privacy",
     "personal information"
    ]
   },
   "then": {
    "emergency": "privacy",
    "skills": [
     "privacy"
    ]
   }
  },
  {
   "id": "major_complaint",
   "description": "Complaint threatening escalation outside the company (CH-16 major complaint)",
   "when": {
    "any_keywords": [
     "12315",
     "消费者协会",
     "消协",
     "媒体曝光",
     "曝光",
     "起诉",
     "律师",
     "法院",
     "监管部门",
     "银保监",
     "工信部",
     "上访",
     "lawyer",
     "lawsuit",
     "sue",
     "court",
     "regulator",
     "ombudsman",
     "the press",
     "journalist"
    ]
   },
   "then": {
    "category": "complaint",
    "emergency": "major_complaint",
    "skills": [
     "complaints"
    ]
   }
  },
  {
   "id": "service_interruption",
   "description": "Service down or unreachable (PR-01 complex)",
   "when": {
    "any_keywords": [
     "服务中断",
     "无法访问",
     "打不开",
     "宕机",
     "断网",
     "停服",
     "全部不能用",
     "访问不了",
     "连不上",
     "outage",
     "service down",
     "is down",
     "cannot access",
     "can't access",
     "unreachable",
     "not loading"
    ]
   },
   "then": {
    "category": "service_interruption"
   }
  },
  {
   "id": "system_fault",
   "description": "Something is broken (PR-01 complex)",
   "when": {
    "any_keywords": [
     "故障",
     "报错",
     "错误代码",
     "闪退",
     "崩溃",
     "死机",
     "无法登录",
     "登录不了",
     "不能用",
     "失灵",
     "bug",
     "error",
     "crash",
     "broken",
     "not working",
     "doesn't work",
     "does not work",
     "fault",
     "cannot log in",
     "can't log in"
    ]
   },
   "then": {
    "category": "system_fault"
   }
  },
  {
   "id": "data_anomaly",
   "description": "Wrong numbers, records or bills (PR-01 complex)",
   "when": {
    "any_keywords": [
     "数据异常",
     "数据错误",
     "数据不对",
     "账单不对",
     "扣费异常",
     "重复扣费",
     "多扣",
     "余额不对",
     "记录丢失",
     "数据丢失",
     "wrong amount",
     "charged twice",
     "double charged",
     "incorrect balance",
     "data missing",
     "wrong data",
     "discrepancy"
    ]
   },
   "then": {
    "category": "data_anomaly"
   }
  },
  {
   "id": "complaint",
   "description": "The customer complains (PR-02 complaint, routine unless major)",
   "when": {
    "any_keywords": [
     "投诉",
     "不满",
     "太差",
     "态度差",
     "态度恶劣",
     "退款",
     "赔偿",
     "欺骗",
     "失望",
     "差评",
     "complaint",
     "complain",
     "unacceptable",
     "refund",
     "compensation",
     "terrible",
     "disappointed",
     "worst"
    ]
   },
   "then": {
    "category": "complaint"
   }
  },
  {
   "id": "suggestion",
   "description": "The customer suggests an improvement (PR-02 suggestion)",
   "when": {
    "any_keywords": [
     "建议",
     "希望增加",
     "能否增加",
     "意见",
     "改进",
     "suggestion",
     "suggest",
     "it would be nice",
     "feature request",
     "please add",
     "improvement"
    ]
   },
   "then": {
    "category": "suggestion"
   }
  },
  {
   "id": "ivr_complaint_menu",
   "description": "Caller chose the complaint option in the IVR",
   "when": {
    "channels": [
     "phone"
    ],
    "ivr_selections": [
     "complaint",
     "3"
    ]
   },
   "then": {
    "category": "complaint"
   }
  },
  {
   "id": "ivr_technical_menu",
   "description": "Caller chose technical support in the IVR",
   "when": {
    "channels": [
     "phone"
    ],
    "ivr_selections": [
     "technical",
     "2"
    ]
   },
   "then": {
    "skills": [
     "technical"
    ]
   }
  },
  {
   "id": "high_risk_customer",
   "description": "High-risk customers get tracked handling (002 §2.2)",
   "when": {
    "customer": {
     "risk_level": [
      "high"
     ]
    }
   },
   "then": {
    "skills": [
     "senior"
    ]
   }
  }
 ]
}$rules$::jsonb, 'migration', now());
