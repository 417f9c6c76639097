-- Level-2/3 categories (RULES.md: free sub-types under each level-1 category) and security incident levels (F17):
-- the contact's sub-type, as rules or an
-- agent set it (`level2` or `level2/level3`), and the shipped taxonomy (`subcategories`, with the skills a
-- sub-type needs) in a third version of the shipped rule set, where the rules are still the shipped ones
-- (version 2); an admin's own rule set is theirs to extend. Audited either way.
ALTER TABLE contact ADD COLUMN subcategory text;
-- Security incidents' level (F17: 一般 general / 较大 major / 重大 serious / 特别重大 critical), for SLA's clocks.
ALTER TABLE contact ADD COLUMN incident_level text;

INSERT INTO classification_ruleset (version, document, updated_by, updated_at)
SELECT 3, $rules${
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
   "id": "incident_critical",
   "description": "A security incident on a massive scale (F17 特别重大)",
   "when": {
    "any_keywords": [
     "大规模泄露",
     "大規模洩露",
     "所有用户数据",
     "所有用戶資料",
     "全部客户资料",
     "全部客戶資料",
     "数百万",
     "數百萬",
     "mass breach",
     "millions of records",
     "all customer data"
    ]
   },
   "then": {
    "incident_level": "critical"
   }
  },
  {
   "id": "incident_serious",
   "description": "A security incident touching many customers (F17 重大)",
   "when": {
    "any_keywords": [
     "大量用户",
     "大量用戶",
     "批量泄露",
     "批量洩露",
     "很多客户",
     "很多客戶",
     "多名客户",
     "多名客戶",
     "many customers",
     "thousands of",
     "large number of accounts"
    ]
   },
   "then": {
    "incident_level": "serious"
   }
  },
  {
   "id": "incident_major",
   "description": "A security incident with money or several accounts involved (F17 较大)",
   "when": {
    "any_keywords": [
     "盗刷",
     "盜刷",
     "资金损失",
     "資金損失",
     "多个账户",
     "多個帳戶",
     "money was taken",
     "several accounts"
    ]
   },
   "then": {
    "incident_level": "major"
   }
  },
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
     "danger to life",
     "瓦斯外洩",
     "瓦斯漏氣",
     "聞到瓦斯味",
     "煤气味",
     "燃气味",
     "煤氣洩漏",
     "起火",
     "失火",
     "火警",
     "受傷",
     "smell gas",
     "smell of gas",
     "on fire"
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
     "个资",
     "data leak",
     "data breach",
     "leaked",
     "personal data exposed",
     "privacy breach",
     "资料外泄",
     "數據外洩",
     "个资外泄",
     "個資外洩",
     "信息外泄",
     "資訊外洩",
     "隐私外泄",
     "客户资料外泄",
     "被泄露",
     "被洩露",
     "被外泄",
     "被洩漏",
     "個人資料被洩露",
     "my data was leaked",
     "my information was leaked"
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
     "fraud",
     "账户被盗",
     "帳戶被盜",
     "戶口被盜",
     "被盗用",
     "盜用",
     "被冒用",
     "冒用身份",
     "詐騙電話",
     "駭客",
     "account was stolen",
     "account compromised",
     "identity theft",
     "scam"
    ]
   },
   "then": {
    "category": "security_event",
    "emergency": "security",
    "subcategory": "account_takeover"
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
     "journalist",
     "消基會",
     "消委會",
     "消費者委員會",
     "爆料",
     "提告",
     "告你們"
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
   "id": "major_failure",
   "description": "A failure that hits many customers at once (RULES.md: a major system failure is urgent)",
   "when": {
    "any_keywords": [
     "大面积故障",
     "大面積故障",
     "大面积瘫痪",
     "大面积中断",
     "大范围故障",
     "系统瘫痪",
     "系統癱瘓",
     "全面瘫痪",
     "全部瘫痪",
     "所有用户都",
     "所有用戶都",
     "全部用户都",
     "全网中断",
     "全網中斷",
     "全网故障",
     "全线中断",
     "major outage",
     "widespread outage",
     "complete outage",
     "total outage",
     "all users",
     "all customers are",
     "everyone is affected",
     "nationwide outage",
     "whole system is down",
     "entire system is down"
    ]
   },
   "then": {
    "emergency": "major_failure",
    "skills": [
     "technical"
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
     "not loading",
     "瘫痪",
     "癱瘓",
     "無法連線",
     "连线不上",
     "斷線",
     "網站掛了",
     "掛了",
     "服務中斷",
     "停止服務"
    ]
   },
   "then": {
    "category": "service_interruption",
    "subcategory": "network"
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
     "can't log in",
     "當機",
     "當掉",
     "無法登入",
     "登入不了",
     "程式錯誤",
     "系統錯誤"
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
     "discrepancy",
     "重复扣款",
     "重複扣款",
     "扣款异常",
     "账单有误",
     "帳單有誤",
     "金额不对",
     "金額錯誤"
    ]
   },
   "then": {
    "category": "data_anomaly",
    "subcategory": "billing_error"
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
     "worst",
     "客訴",
     "態度很差",
     "服务很差",
     "服務很爛",
     "很差劲"
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
     "improvement",
     "建議",
     "希望能增加",
     "許願"
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
 ],
 "subcategories": {
  "enquiry": {
   "account": [
    "password",
    "contact_details"
   ],
   "order": [
    "status",
    "change"
   ],
   "product": [],
   "billing": [
    "invoice"
   ]
  },
  "complaint": {
   "service_attitude": [
    "rude",
    "unreachable"
   ],
   "billing": [
    "overcharge",
    "refund_delay"
   ],
   "delivery": [
    "late",
    "damaged"
   ],
   "quality": []
  },
  "suggestion": {
   "product": [],
   "service": []
  },
  "system_fault": {
   "login": [],
   "app_crash": [],
   "payment": []
  },
  "data_anomaly": {
   "billing_error": [
    "double_charge",
    "wrong_balance"
   ],
   "missing_records": []
  },
  "service_interruption": {
   "network": [
    "broadband",
    "mobile"
   ],
   "website": []
  },
  "security_event": {
   "account_takeover": [],
   "fraud": [
    "phishing",
    "scam_call"
   ]
  },
  "data_leak": {
   "personal_data": [],
   "payment_data": []
  }
 },
 "skills_by_subcategory": {
  "complaint/billing": [
   "billing"
  ],
  "data_anomaly/billing_error": [
   "billing"
  ]
 }
}$rules$::jsonb, 'migration', now()
WHERE (SELECT max(version) FROM classification_ruleset) = 2
  AND EXISTS (SELECT 1 FROM classification_ruleset WHERE version = 2 AND updated_by = 'migration');

INSERT INTO audit_log (actor, action, target, detail, at)
SELECT 'migration',
       CASE WHEN EXISTS (SELECT 1 FROM classification_ruleset WHERE version = 3 AND updated_by = 'migration')
            THEN 'classification.rules.shipped' ELSE 'classification.rules.shipped_skipped' END,
       'classification:rules',
       '{"shipped_version": 3, "why": "level-2/3 categories (issue 18)"}'::jsonb,
       now();
